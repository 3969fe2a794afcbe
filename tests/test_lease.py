"""The device lease on its own: slots, who goes first, pausing long work for interactive work."""

import threading
import time

import pytest

from core.jobs.lease import DeviceLease, Urgency


def _take_in_thread(lease: DeviceLease, urgency: Urgency, order: list[str], name: str) -> threading.Thread:
    ticket = lease.ticket(urgency)  # in line now, in this order

    def run() -> None:
        lease.wait(ticket)
        order.append(name)
        lease.release()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_free_slot_goes_to_interactive_then_resuming_then_long_work():
    lease = DeviceLease(1)
    lease.acquire(Urgency.LONG)
    order: list[str] = []
    threads = [
        _take_in_thread(lease, Urgency.LONG, order, "new long"),
        _take_in_thread(lease, Urgency.RESUMING, order, "paused long"),
        _take_in_thread(lease, Urgency.INTERACTIVE, order, "interactive 1"),
        _take_in_thread(lease, Urgency.INTERACTIVE, order, "interactive 2"),
    ]
    assert lease.interactive_waiting()
    lease.release()
    for thread in threads:
        thread.join(5)
    assert order == ["interactive 1", "interactive 2", "paused long", "new long"]


def test_never_more_holders_than_slots():
    lease = DeviceLease(2)
    inside, peak, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal inside, peak
        with lease.hold(Urgency.LONG):
            with lock:
                inside += 1
                peak = max(peak, inside)
            time.sleep(0.01)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert peak == 2 and lease.held == 0


def test_a_waiter_that_times_out_keeps_its_place_and_can_withdraw():
    lease = DeviceLease(1)
    lease.acquire(Urgency.LONG)
    ticket = lease.ticket(Urgency.INTERACTIVE)
    assert not lease.wait(ticket, timeout=0.05)
    assert lease.interactive_waiting() and lease.free_slots() == 0
    lease.withdraw(ticket)
    assert not lease.interactive_waiting()
    lease.release()
    assert lease.free_slots() == 1


def test_a_lease_needs_a_slot_and_a_release_needs_a_holder():
    with pytest.raises(ValueError):
        DeviceLease(0)
    with pytest.raises(RuntimeError):
        DeviceLease(1).release()
