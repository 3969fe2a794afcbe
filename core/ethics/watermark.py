"""A keyed, inaudible, robust audio watermark: dithered lattice (QIM) marks on STFT band levels at 16 kHz.

How it works (all analysis at `WM_SR` = 16 kHz, whatever the file's rate):

- The 1–7 kHz band of a 512-point STFT (hop 256 = 16 ms) is cut into 24 sub-bands of 250 Hz and time into
  slots of `FRAMES_PER_SLOT` frames (64 ms). A *tile* is one sub-band in one slot; its *level* is the log
  amplitude of its power. Embedding scales each tile by a small gain that moves its level toward a keyed
  lattice: Δ·(k + d + bit/2), d a keyed dither, Δ = `step` in every sub-band (coarse: MP3 128k and Opus 64k
  move the levels of music-like tiles by 0.03–0.07, where a finer lattice would be lost). The mark is the
  signal's own spectrum, scaled: zero in digital silence. Only the difference is resampled back to the input
  rate and added, so content outside 1–7 kHz and the samples' timing are untouched.
- Strength (the SNR budget): a tile moves all the way to the lattice unless it is loud; loud tiles move a
  fraction a = sqrt(P_ref / P) of the way (a distortion-compensated lattice), P_ref chosen so that the mark
  spends exactly the budget that keeps it `min_snr_db` + `ALLOCATION_MARGIN_DB` below the whole clip. A tile's
  say in detection is bounded (one unit phasor) while its cost grows with its power, so capping the loud
  tiles and fully marking the rest gets more out of the budget than scaling every tile down alike (music-like
  clips, whose loud harmonics ate the budget, gained most). The plan's cost model misses the leakage between
  tiles (the real mark came out 0.5–3 dB louder), so `embed` measures each planned mark and re-plans with the
  budget corrected (`PLAN_PASSES`); a final scale-down keeps the SNR floor exact. (A scale-down of the whole
  overshoot weakened every tile alike; the optimum of Σ sinc(1 - a) under the budget is within 0.1 dB of the
  sqrt(P_ref / P) rule on the bench's music.)
  A tile never changes by more than ±Δ/2 (±1.3 dB), so in every tile, quiet passages included, the mark is at
  least 16 dB below the audio there, 21 dB for the rms of a full move.
- Tiles repeat with a period of `SLOTS_PER_BLOCK` slots (2.56 s). One tile in three is a *pilot* (bit 0):
  the detector turns every tile level into a phasor exp(2πi·level/Δ), folds the clip onto one block, and
  correlates with the pilot's keyed phasors for every sample offset (16-sample steps), frame phase and
  cyclic shift (so any trim works). A gain change adds the same amount to every level, which turns the sum by
  one angle: its magnitude is taken, so any volume works. Tiles are weighted by a function of the audio alone
  (never of the key), two ways, and the detector takes the better: every audible tile alike (a lossy codec
  disturbs loud and quiet tiles of music alike, so equal weights read it best), or each tile by how far it
  stands above its band's noise floor (added noise drowns the quiet tiles). v2's single weighting (loudness,
  masking and the lattice share) predicted nothing about which tiles of music survive MP3 and Opus: on the
  bench's clips the lowest music z after MP3 was 5.4 with it and 7.5 with equal weights.
  On unmarked audio each tile's phase against the keyed dither is uniformly random, so the weighted sum is
  a sub-Gaussian vector in the plane (E exp(Re(λ̄ w e^{iθ})) = I0(|λ| w) ≤ exp(|λ|² w²/4)): with z its
  normalised magnitude, P(z ≥ z₀) ≤ (e z₀²/2)·exp(-z₀²/2), and the reported false-alarm probability is that
  times the number of alignments and weightings tried (a Bonferroni bound; the measured rate is far below
  it). Host interference is cancelled by the lattice, not fought: z grows with how cleanly the levels
  survive, not with how loud the mark is next to the speech.
- The other tiles carry the payload: `PAYLOAD_BITS` bits (split below), a K=9 rate-1/3 convolutional code
  (UMTS's, free distance 18) with soft Viterbi decoding, each coded bit on about 3 tiles per block,
  interleaved across time and frequency; longer clips fold more repeats onto the block and read more
  reliably. The tiles are repeated anyway, so the lower rate costs nothing: on tile values measured after
  MP3 and Opus (52 clips, half of them music, 10 interleavings each) it read 0.9% of payloads wrong where
  v2's K=7 rate-1/2 code read 4.7% wrong (rate 1/4 and tail-biting gained nothing more).

Bit split (64 bits, MSB first): install id 16 | generation id 24 | MAC 16 | CRC-8 8. Every install uses the
same public key for the lattice, so any Timbre detects the mark and reads the payload (the CRC tells a clean
read); the MAC is a truncated HMAC-SHA256 of (install id, generation id) under the install's secret, so only
that install can tell its own marks from forged or foreign ones.

Key-aided reading (`decode_payload`, which `detect` uses). The plain read (Viterbi, then the CRC) is all a
reader without the install's key gets, and all it needs on almost every clip: codec-damaged music-like clips
are where it fails. Given this install's key(s), a plain read that does not verify as one of theirs is read
again under the hypothesis "this is that install's mark", once per install id among the keys: a list Viterbi
(`list_viterbi_decode`, every state keeping its `KEY_AIDED_LIST_SIZE` best paths) with the 16 install-id input
bits pinned to that id (the trellis is forced on those steps, so its first path is the pinned Viterbi read),
and the first of its paths whose CRC holds and whose MAC verifies under one of the keys is the payload. A
path that is not this install's mark passes the HMAC's 16 bits with probability 2^-16 and the CRC with about
2^-8 (the paths differ from one another in many bits), so a read accepts a wrong payload with probability
about L·2^-24 ≈ 1.5e-5 per install id for L = 256 (at most L·2^-16 ≈ 4e-3 even if the CRC always held).
Measured (at L = 32): 0 acceptances in 100,000 reads of random tile phasors (key-aided reading ran on all: of
3.2 million paths 12,246 passed the CRC, 0.38% as 2^-8 predicts, and none the MAC, 0.19 expected), and
none of foreign or forged marks (another install; this install id with another secret): 4,384 key-aided
reads in the bench, 10,000 simulated noisy ones. Foreign marks keep the plain read:
without a MAC to check, a list would only invent plausible wrong payloads. On codec-attacked music-like clips
(MP3 128k and Opus 64k; the bench's music generator, seeds 0–204, 3–6 s; 406 detected reads) the plain read
got 22 payloads wrong and key-aided reading 2 (pinning alone 17; L = 8: 8, 16: 5, 32: 5, 64: 4, 128: 4,
256: 2): the right payload's rank in the pinned list, over these 22 plain failures and the bench's own two,
was 0–19 for 19, 52, 146, 161 and 381 for four, beyond 1024 for one. L = 256 costs about 85 ms per install id
on one core (32: 17 ms), and only when the plain read does not verify (foreign marks, damaged reads): a mark
of this install read cleanly costs nothing more; a folder of foreign files is read about 0.1 s slower each.

Waveforms are (n,) arrays at `sr` Hz, float in [-1, 1] or int16; the same dtype comes back.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.errors import AudioError, WatermarkError

# --------------------------------------------------------------------------------------------------
# Layout (changing any of these changes the mark: old marks are no longer found)

WM_SR = 16000  # analysis rate, Hz
N_FFT = 512  # 32 ms frames
HOP = 256  # 16 ms
BIN_HZ = WM_SR / N_FFT  # 31.25 Hz
SUBBAND_EDGES_HZ = tuple(range(1000, 7001, 250))  # 24 sub-bands of 250 Hz, 1–7 kHz
SUBBAND_EDGE_BINS = tuple(round(hz / BIN_HZ) for hz in SUBBAND_EDGES_HZ)
FIRST_BIN, LAST_BIN = SUBBAND_EDGE_BINS[0], SUBBAND_EDGE_BINS[-1]
BINS_PER_SUBBAND = tuple(b - a for a, b in zip(SUBBAND_EDGE_BINS[:-1], SUBBAND_EDGE_BINS[1:], strict=True))
N_SUBBANDS = len(BINS_PER_SUBBAND)
FRAMES_PER_SLOT = 4  # 64 ms
SLOTS_PER_BLOCK = 40  # 2.56 s: the mark's period
PILOT_EVERY = 3  # one tile in three carries the pilot
SUB_HOP_STEP = 16  # the detector tries every 16th sample offset inside one hop (≤ 0.5 ms off)

# The public key every Timbre install uses for the pilot and the payload's chips (anyone can detect and read).
PUBLIC_KEY = b"timbre-watermark-v3"  # v3: K=9 rate-1/3 code (v1 and v2 marks are not found)

# Payload bit split (MSB first): install id | generation id | keyed MAC | public CRC.
INSTALL_ID_BITS = 16
GENERATION_ID_BITS = 24
MAC_BITS = 16
CRC_BITS = 8
PAYLOAD_BITS = INSTALL_ID_BITS + GENERATION_ID_BITS + MAC_BITS + CRC_BITS  # 64
CRC8_POLY = 0x07

# Convolutional code: constraint length 9, rate 1/3, the (557, 663, 711) octal generators; zero-terminated.
CONV_K = 9
CONV_GENERATORS = (0o557, 0o663, 0o711)
CODED_BITS = (PAYLOAD_BITS + CONV_K - 1) * len(CONV_GENERATORS)
# Key-aided reading (`decode_payload`): the paths a list Viterbi hands to the CRC and MAC checks per install.
KEY_AIDED_LIST_SIZE = 256

# Detection.
FALSE_ALARM_THRESHOLD = 1e-3  # presence when the bounded false-alarm probability is below this
ACTIVE_FLOOR_DB = -45.0  # slots quieter than the loud slots by more than this are ignored...
ABSOLUTE_FLOOR = 1e-9  # ...and so are slots with less band power (float scale) than this
LOG_EPS = 1e-12
ALLOCATION_MARGIN_DB = 0.05  # the strength is planned this far above the SNR floor (resampling adds a little)
PLAN_PASSES = 3  # strength plans, each corrected by the mark the last one made (`embed`)
NOISE_FLOOR_PERCENTILE = 10
ACTIVE_PERCENTILE = 90  # slot loudness the activity floor is relative to
# A tile is audible when it is less than INAUDIBLE_DB below the clip's LOUD_PERCENTILE tile power (fainter
# ones sit under a codec's noise: they carried nothing after MP3 or Opus).
LOUD_PERCENTILE = 95
INAUDIBLE_DB = -60.0
NOISE_WEIGHT_KNEE = 10.0  # in the noise-floor weighting, a tile 10 dB over the floor counts half
N_WEIGHTINGS = 2  # audible tiles alike; by height above the noise floor (`_tiles`)


@dataclass(frozen=True)
class WatermarkParams:
    """Lattice step Δ (log amplitude), SNR floor, passes toward the lattice and their share, gain cap."""

    step: float = 0.3  # Δ: a tile's level moves by at most ±Δ/2 (±1.3 dB)
    min_snr_db: float = 35.2  # the mark's budget: the whole clip over the whole mark, dB
    compensation: float = 1.0
    iterations: int = 3
    max_log_gain: float = 0.5


@dataclass(frozen=True)
class InstallKey:
    """One install's identity: a public 16-bit id and a secret that signs its marks (it never leaves)."""

    install_id: int
    secret: bytes


@dataclass(frozen=True)
class Payload:
    """What a mark says: which install made the file, and which of its generations (log lookup key)."""

    install_id: int
    generation_id: int
    mac: int = 0  # set by `sign`; checked by `verify`


@dataclass(frozen=True)
class Detection:
    """The detector's answer for one clip.

    `false_alarm_probability`: an upper bound on the chance an unmarked clip scores this high.
    `payload`: None unless the payload decoded with a valid CRC (with keys, the key-aided read when the plain
    one did not verify: module docstring). `signed_by_this_install`: True when one of the given keys' MAC
    matches, False when the payload is readable but none matches (foreign or forged), None when no payload
    was read or no keys were given. `confidence`: the pilot's normalised correlation (z).
    """

    detected: bool
    false_alarm_probability: float
    payload: Payload | None
    signed_by_this_install: bool | None
    confidence: float


# --------------------------------------------------------------------------------------------------
# Payload: bits, MAC, CRC


def _mac(secret: bytes, install_id: int, generation_id: int) -> int:
    message = install_id.to_bytes(4, "big") + generation_id.to_bytes(4, "big")
    digest = hmac.new(secret, b"timbre-mark|" + message, hashlib.sha256).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - MAC_BITS)


def sign(key: InstallKey, generation_id: int) -> Payload:
    """The payload for generation `generation_id` (< 2^24) of `key`'s install, with its MAC."""
    if not 0 <= generation_id < 1 << GENERATION_ID_BITS:
        raise WatermarkError(f"generation id {generation_id} does not fit in {GENERATION_ID_BITS} bits")
    if not 0 <= key.install_id < 1 << INSTALL_ID_BITS:
        raise WatermarkError(f"install id {key.install_id} does not fit in {INSTALL_ID_BITS} bits")
    return Payload(key.install_id, generation_id, _mac(key.secret, key.install_id, generation_id))


def verify(payload: Payload, key: InstallKey) -> bool:
    """True when `payload` names `key`'s install and carries that install's MAC."""
    expected = _mac(key.secret, key.install_id, payload.generation_id)
    return payload.install_id == key.install_id and hmac.compare_digest(
        payload.mac.to_bytes(4, "big"), expected.to_bytes(4, "big")
    )


def _crc8(bits: np.ndarray) -> int:
    crc = 0
    for bit in bits:
        crc ^= int(bit) << 7
        crc = ((crc << 1) ^ CRC8_POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _int_bits(value: int, n_bits: int) -> np.ndarray:
    return np.array([(value >> (n_bits - 1 - i)) & 1 for i in range(n_bits)], dtype=np.uint8)


def _bits_int(bits: np.ndarray) -> int:
    return int("".join(str(int(b)) for b in bits) or "0", 2)


def payload_to_bits(payload: Payload) -> np.ndarray:
    """(PAYLOAD_BITS,) uint8: install id, generation id, MAC, then a CRC-8 over those 56 bits."""
    body = np.concatenate(
        [
            _int_bits(payload.install_id, INSTALL_ID_BITS),
            _int_bits(payload.generation_id, GENERATION_ID_BITS),
            _int_bits(payload.mac, MAC_BITS),
        ]
    )
    return np.concatenate([body, _int_bits(_crc8(body), CRC_BITS)])


def bits_to_payload(bits: np.ndarray) -> Payload | None:
    """Inverse of `payload_to_bits`; None when the CRC does not match."""
    body, crc = bits[: PAYLOAD_BITS - CRC_BITS], bits[PAYLOAD_BITS - CRC_BITS :]
    if _crc8(body) != _bits_int(crc):
        return None
    a, b = INSTALL_ID_BITS, INSTALL_ID_BITS + GENERATION_ID_BITS
    return Payload(_bits_int(body[:a]), _bits_int(body[a:b]), _bits_int(body[b:]))


# --------------------------------------------------------------------------------------------------
# Convolutional code


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """(next_state, output_bits) for each (state, input): shapes (S, 2) and (S, 2, 3), S = 2^(K-1)."""
    n_states = 1 << (CONV_K - 1)
    next_state = np.zeros((n_states, 2), dtype=np.int64)
    outputs = np.zeros((n_states, 2, len(CONV_GENERATORS)), dtype=np.int8)
    for state in range(n_states):
        for bit in (0, 1):
            register = (bit << (CONV_K - 1)) | state  # newest bit in the top position
            for j, gen in enumerate(CONV_GENERATORS):
                outputs[state, bit, j] = bin(register & gen).count("1") & 1
            next_state[state, bit] = register >> 1
    return next_state, outputs


def conv_encode(bits: np.ndarray) -> np.ndarray:
    """(n,) bits → (3 (n + 8),) coded bits (zero tail)."""
    next_state, outputs = _trellis()
    state, coded = 0, []
    for bit in np.concatenate([bits, np.zeros(CONV_K - 1, dtype=np.uint8)]):
        coded.extend(outputs[state, int(bit)])
        state = next_state[state, int(bit)]
    return np.array(coded, dtype=np.uint8)


def viterbi_decode(soft: np.ndarray, n_bits: int) -> np.ndarray:
    """Soft-decision Viterbi: `soft` (3 (n_bits + 8),) with positive values meaning bit 1 → (n_bits,) bits."""
    return list_viterbi_decode(soft, n_bits, 1)[0]


@lru_cache(maxsize=1)
def _predecessors() -> tuple[np.ndarray, np.ndarray]:
    """(state, input bit) of the two transitions into each state: shapes (S, 2) and (S,) (a shift register's
    two predecessors of a state share the input bit that entered it)."""
    next_state, _ = _trellis()
    order = np.argsort(next_state.reshape(-1), kind="stable")  # transitions grouped by destination
    source, bit = np.divmod(order, 2)
    return source.reshape(-1, 2), bit.reshape(-1, 2)[:, 0]


def list_viterbi_decode(
    soft: np.ndarray, n_bits: int, list_size: int, known_prefix: np.ndarray | tuple = ()
) -> np.ndarray:
    """Parallel list Viterbi: the `list_size` most likely inputs, best first, (≤ list_size, n_bits) bits.

    Every state keeps its `list_size` best paths, so the survivors into the zero tail's end state are exactly
    the best paths overall. `known_prefix`: input bits known in advance (the trellis is forced on those
    steps). `soft` as in `viterbi_decode`.
    """
    next_state, outputs = _trellis()
    source, bit_in = _predecessors()
    n_states, n_steps = next_state.shape[0], n_bits + CONV_K - 1
    gains = (outputs.astype(np.float64) * 2 - 1) @ soft.reshape(n_steps, len(CONV_GENERATORS)).T  # (S, 2, T)
    forced = np.full(n_steps, -1)  # each step's input bit, -1 where free
    forced[: len(known_prefix)] = known_prefix
    forced[n_bits:] = 0  # the tail is zeros
    metric = np.full((n_states, list_size), -np.inf)
    metric[0, 0] = 0.0
    back = np.zeros((n_steps, n_states, list_size), dtype=np.int64)  # index into (2 predecessors x list)
    for step in range(n_steps):
        # (S, 2 L): each state's candidates from its two predecessors, every rank of each
        cand = (metric[source] + gains[source, bit_in[:, None], step][:, :, None]).reshape(n_states, -1)
        if forced[step] >= 0:
            cand[bit_in != forced[step]] = -np.inf
        best = np.argsort(-cand, axis=1, kind="stable")[:, :list_size]
        back[step] = best
        metric = np.take_along_axis(cand, best, axis=1)
    ranks = np.flatnonzero(np.isfinite(metric[0]))  # best first
    states, bits = np.zeros(len(ranks), dtype=np.int64), np.zeros((len(ranks), n_steps), dtype=np.uint8)
    for step in range(n_steps - 1, -1, -1):  # trace every listed path back at once
        which, ranks = np.divmod(back[step, states, ranks], list_size)
        bits[:, step] = bit_in[states]
        states = source[states, which]
    return bits[:, :n_bits]


# --------------------------------------------------------------------------------------------------
# Keyed layout of one block


@dataclass(frozen=True)
class _Layout:
    dither: np.ndarray  # (SLOTS_PER_BLOCK, N_SUBBANDS) complex unit phasors exp(2πi·d/Δ), d keyed uniform
    is_pilot: np.ndarray  # (SLOTS_PER_BLOCK, N_SUBBANDS) bool
    data_bit: np.ndarray  # (SLOTS_PER_BLOCK, N_SUBBANDS) int: coded-bit index of data tiles, -1 on pilots


@lru_cache(maxsize=4)
def _layout(public_key: bytes = PUBLIC_KEY) -> _Layout:
    seed = int.from_bytes(hashlib.sha256(b"layout|" + public_key).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    shape = (SLOTS_PER_BLOCK, N_SUBBANDS)
    slots, bands = np.indices(shape)
    is_pilot = (bands + slots) % PILOT_EVERY == 0
    dither = np.exp(2j * np.pi * rng.random(shape))
    data_tiles = np.flatnonzero(~is_pilot.reshape(-1))
    assignment = np.arange(len(data_tiles)) % CODED_BITS
    rng.shuffle(assignment)
    data_bit = np.full(shape[0] * shape[1], -1, dtype=np.int64)
    data_bit[data_tiles] = assignment
    return _Layout(dither, is_pilot, data_bit.reshape(shape))


# --------------------------------------------------------------------------------------------------
# Signal processing at WM_SR


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    # sqrt of a periodic Hann: analysis x synthesis windows overlap-add to exactly 1 at hop N_FFT/2.
    return np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT))


def _frame_index(n_frames: int) -> np.ndarray:
    return np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]  # (n_frames, N_FFT)


def _stft(x16: np.ndarray) -> np.ndarray:
    """(n,) at WM_SR → (n_frames, N_FFT/2+1) complex; frames start at 0, HOP apart, zero-padded at the end."""
    n_frames = max(1, math.ceil((len(x16) - N_FFT) / HOP) + 1)
    padded = np.zeros((n_frames - 1) * HOP + N_FFT)
    padded[: len(x16)] = x16
    return np.fft.rfft(padded[_frame_index(n_frames)] * _window(), axis=1)


def _istft(spec: np.ndarray, n: int) -> np.ndarray:
    """Inverse of `_stft` (weighted overlap-add), cut to `n` samples."""
    frames = np.fft.irfft(spec, n=N_FFT, axis=1) * _window()
    out = np.zeros((len(spec) - 1) * HOP + N_FFT)
    np.add.at(out, _frame_index(len(spec)), frames)
    return out[:n]


def _band_power(spec: np.ndarray) -> np.ndarray:
    """(n_frames, bins) complex → (n_frames, N_SUBBANDS) summed power per sub-band."""
    power = np.abs(spec[:, FIRST_BIN:LAST_BIN]) ** 2
    return np.add.reduceat(power, np.array(SUBBAND_EDGE_BINS[:-1]) - FIRST_BIN, axis=1)


@dataclass(frozen=True)
class _Tiles:
    levels: np.ndarray  # (n_slots, N_SUBBANDS) log amplitude of each tile's power
    weights: np.ndarray  # (N_WEIGHTINGS, n_slots, N_SUBBANDS) trust in each tile, 0..1 (0 in inactive slots)
    active: np.ndarray  # (n_slots,) bool: slots loud enough to carry the mark


def _low_quantile(values: np.ndarray, fraction: float, axis: int | None = None) -> np.ndarray:
    """The element at `fraction` of the sorted values (no interpolation; np.partition, fast)."""
    flat = values.reshape(-1) if axis is None else values
    n = flat.shape[0 if axis is None else axis]
    k = min(n - 1, int(fraction * (n - 1)))
    return np.take(
        np.partition(flat, k, axis=0 if axis is None else axis), k, axis=0 if axis is None else axis
    )


def _tiles(band_power: np.ndarray, phase: int) -> _Tiles:
    """Frame band powers (n_frames, N_SUBBANDS) → the tiles of slots starting at frame `phase`.

    Levels: log amplitude of each tile's power summed over the slot's frames. Weights, two ways: 1 on every
    audible tile of an active slot; and a Wiener-style trust on those (tile power over a per-band noise floor,
    a low percentile of the band's tile powers: the gaps between words). Both are functions of the audio
    only, never of the key, so the false-alarm bound holds.
    """
    usable = band_power[phase:]
    n_slots = len(usable) // FRAMES_PER_SLOT
    power = usable[: n_slots * FRAMES_PER_SLOT].reshape(n_slots, FRAMES_PER_SLOT, N_SUBBANDS).sum(axis=1)
    if n_slots == 0:
        empty = np.zeros((0, N_SUBBANDS))
        return _Tiles(empty, np.zeros((N_WEIGHTINGS, 0, N_SUBBANDS)), np.zeros(0, dtype=bool))
    floor = _low_quantile(power, NOISE_FLOOR_PERCENTILE / 100, axis=0)[None, :]
    levels = 0.5 * np.log(power + LOG_EPS)
    slot_power = power.mean(axis=1)
    loud_slot = _low_quantile(slot_power, ACTIVE_PERCENTILE / 100)
    active = slot_power > max(ABSOLUTE_FLOOR, loud_slot * 10 ** (ACTIVE_FLOOR_DB / 10))
    if not active.any():
        return _Tiles(levels, np.zeros((N_WEIGHTINGS, *levels.shape)), active)
    snr = np.maximum(power / (floor + LOG_EPS) - 1.0, 0.0)
    loud = _low_quantile(power[active], LOUD_PERCENTILE / 100)
    audible = ((power > loud * 10 ** (INAUDIBLE_DB / 10)) & active[:, None]).astype(float)
    return _Tiles(levels, np.stack([audible, audible * snr / (snr + NOISE_WEIGHT_KNEE)]), active)


def _strength_reference(power: np.ndarray, budget: float, step: float) -> float:
    """P_ref: the tile power above which tiles move only sqrt(P_ref / P) of the way to the lattice.

    `power`: the marked tiles' powers (1-D); `budget`: the mark energy allowed, in the same units. A full move
    costs a tile P·Δ²/12 on average (its offset to the lattice is uniform in ±Δ/2), a capped one P_ref·Δ²/12,
    so the mark's energy is Δ²/12 · (Σ_{P ≤ P_ref} P + P_ref · #{P > P_ref}): solved exactly over the sorted
    powers. Infinite when every tile can move all the way.
    """
    per_power = step * step / 12
    p = np.sort(power)
    if p.size == 0 or per_power * float(p.sum()) <= budget:
        return math.inf
    below = np.concatenate([[0.0], np.cumsum(p)[:-1]])  # Σ of the tiles quieter than tile i
    ref = (budget / per_power - below) / (p.size - np.arange(p.size))  # P_ref if tiles i.. are capped
    return float(max(ref[int(np.argmax(ref <= p))], 0.0))


def _strengths(power: np.ndarray, reference: float) -> np.ndarray:
    """The share a (0..1] of the way to the lattice that tiles of `power` are moved."""
    return np.minimum(1.0, np.sqrt(reference / np.maximum(power, LOG_EPS)))


def _budget(x: np.ndarray, x16: np.ndarray, spec: np.ndarray, snr_db: float) -> float:
    """The mark energy, in `spec`'s units (summed |STFT|²), that keeps it `snr_db` below the whole clip.

    The clip's energy counts what lies above 8 kHz too (the SNR is over the file at its own rate): the STFT's
    energy at WM_SR is scaled by the ratio of the clip's power to the resampled clip's.
    """
    full_band = float(np.mean(x**2)) / max(float(np.mean(x16**2)), LOG_EPS)
    return float(np.sum(np.abs(spec) ** 2)) * full_band * 10 ** (-snr_db / 10)


def _to_float(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"expected mono audio of shape (n,), got {audio.shape}; mix channels down first")
    if audio.dtype == np.int16:
        return audio.astype(np.float64) / 32768.0
    if not np.issubdtype(audio.dtype, np.floating):
        raise AudioError(f"expected float or int16 audio, got {audio.dtype}")
    return audio.astype(np.float64)


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    import soxr  # deferred: only marking and detection need it

    out = soxr.resample(x, sr_in, sr_out, quality="HQ")
    n_out = math.ceil(len(x) * sr_out / sr_in)
    return np.pad(out, (0, max(0, n_out - len(out))))[:n_out]


# --------------------------------------------------------------------------------------------------
# Embedding


def _targets(
    levels: np.ndarray, coded: np.ndarray, layout: _Layout, params: WatermarkParams, start_slot: int = 0
) -> np.ndarray:
    """(n_slots, N_SUBBANDS) wanted tile levels: the nearest point of each tile's keyed lattice.

    Tile lattice: Δ·(k + d + bit/2), d the tile's dither (fraction of Δ), bit 0 on pilot tiles and the coded
    bit on data tiles. The first tile is at block position `start_slot` (a stream's later pieces).
    """
    n_slots = len(levels)
    pos = (start_slot + np.arange(n_slots)) % SLOTS_PER_BLOCK
    offset = np.angle(layout.dither[pos]) / (2 * np.pi)  # dither as a fraction of Δ, in [-0.5, 0.5)
    bits = np.where(layout.data_bit >= 0, coded[np.maximum(layout.data_bit, 0)], 0)[pos]
    offset = offset + 0.5 * bits
    delta = params.step
    return delta * (np.round(levels / delta - offset) + offset)


def _gain(spec: np.ndarray, tiles: _Tiles, target: np.ndarray, n: int, params: WatermarkParams) -> np.ndarray:
    """(n_frames, N_FFT/2+1) STFT gains that bring the active tiles' levels to `target`: `params.iterations`
    passes, each measuring the levels after the STFT round trip (neighbouring tiles leak into each other)."""
    levels = tiles.levels
    log_gain = np.zeros(levels.shape)
    gain = np.ones(spec.shape)
    for i in range(params.iterations):
        if i:
            levels = _tiles(_band_power(_stft(_istft(spec * gain, n))), 0).levels
        change = np.where(tiles.active[:, None], (target - levels) * params.compensation, 0.0)
        log_gain = np.clip(log_gain + change, -params.max_log_gain, params.max_log_gain)
        frame_gain = np.repeat(np.exp(log_gain), FRAMES_PER_SLOT, axis=0)  # (n_slots*FRAMES_PER_SLOT, bands)
        gain[: len(frame_gain), FIRST_BIN:LAST_BIN] = np.repeat(frame_gain, BINS_PER_SUBBAND, axis=1)
    return gain


def embed(
    audio: np.ndarray,
    sr: int,
    payload: Payload,
    key: InstallKey | None = None,
    params: WatermarkParams = WatermarkParams(),  # noqa: B008 (frozen dataclass)
    start_slot: int = 0,
) -> np.ndarray:
    """Mark `audio` (n,) at `sr` Hz with `payload`; returns the same length and dtype.

    `key`: when given, the payload is (re)signed with it (its install id and MAC replace `payload`'s);
    without it `payload` is embedded as is. Digital silence stays silent; int16 is rounded and clipped.
    `start_slot`: the block position of the audio's first slot (`StreamEmbedder` marks a stream's pieces).
    """
    if sr <= 0:
        raise AudioError(f"sample rate must be positive, got {sr}")
    if key is not None:
        payload = sign(key, payload.generation_id)
    x = _to_float(audio)
    x16 = _resample(x, sr, WM_SR) if len(x) else x
    if len(x16) < N_FFT * 2 or not np.any(x16):
        return np.array(audio, copy=True)
    spec = _stft(x16)  # (n_frames, N_FFT/2+1)
    layout = _layout()
    coded = conv_encode(payload_to_bits(payload))
    tiles = _tiles(_band_power(spec), 0)
    power = np.exp(2 * tiles.levels)
    target = _targets(tiles.levels, coded, layout, params, start_slot)
    # The plan's cost model (Δ²/12 per unit of tile power) misses the leakage between tiles and the gain
    # passes' overshoot, by 0.5–3 dB: each pass measures the mark it made and re-plans with the budget scaled
    # by what it missed, so the scale-down below trims a little instead of weakening a mark planned too loud.
    allowed = float(np.mean(x**2)) * 10 ** (-(params.min_snr_db + ALLOCATION_MARGIN_DB) / 10)
    budget = _budget(x, x16, spec, params.min_snr_db + ALLOCATION_MARGIN_DB)
    for _ in range(PLAN_PASSES):
        reference = _strength_reference(power[tiles.active].reshape(-1), budget, params.step)
        share = _strengths(power, reference)
        gain = _gain(spec, tiles, tiles.levels + share * (target - tiles.levels), len(x16), params)
        mark16 = _istft(spec * (gain - 1.0), len(x16))
        if math.isinf(reference):
            break  # every tile moves all the way: more budget buys nothing
        budget *= allowed / max(float(np.mean(mark16**2)), LOG_EPS)
    mark = _resample(mark16, WM_SR, sr)[: len(x)]
    snr_db = 10 * np.log10(np.sum(x**2) / max(float(np.sum(mark**2)), LOG_EPS))
    if snr_db < params.min_snr_db:  # the last pass overshot a little: scale it back to the floor exactly
        mark *= 10 ** ((snr_db - params.min_snr_db) / 20)
    y = x + mark
    if np.asarray(audio).dtype == np.int16:
        return np.clip(np.round(y * 32768.0), -32768, 32767).astype(np.int16)
    return y.astype(np.asarray(audio).dtype)


class StreamEmbedder:
    """Marks a stream piece by piece (`mark` each piece as it goes out) so that the pieces put together carry
    the same continuous mark as the whole would: each piece is marked on the whole stream's slot grid, at its
    block position, with the unmarked samples just before it (less than one slot) as analysis context.

        marker = StreamEmbedder(sr, payload)
        for piece in pieces:
            send(marker.mark(piece))
    """

    def __init__(
        self,
        sr: int,
        payload: Payload,
        params: WatermarkParams = WatermarkParams(),  # noqa: B008 (frozen dataclass)
    ) -> None:
        if sr <= 0:
            raise AudioError(f"sample rate must be positive, got {sr}")
        self.sr = int(sr)
        self.payload = payload
        self.params = params
        self.samples_marked = 0
        self._slot = FRAMES_PER_SLOT * HOP * self.sr / WM_SR  # input samples per slot (may be fractional)
        self._tail = np.zeros(0)  # the last unmarked input samples, context for the next piece

    def mark(self, piece: np.ndarray) -> np.ndarray:
        """`piece` (n,) marked as the continuation of the pieces before it; same length and dtype."""
        piece = np.asarray(piece)
        start_slot = int(self.samples_marked // self._slot)
        n_context = min(len(self._tail), self.samples_marked - round(start_slot * self._slot))
        context = self._tail[len(self._tail) - n_context :].astype(piece.dtype)
        joined = np.concatenate([context, piece])
        position = start_slot % SLOTS_PER_BLOCK
        marked = embed(joined, self.sr, self.payload, params=self.params, start_slot=position)
        self._tail = np.concatenate([self._tail, piece])[-(math.ceil(self._slot) + 1) :]
        self.samples_marked += len(piece)
        return marked[n_context:]


# --------------------------------------------------------------------------------------------------
# Detection


def _fold(phasors: np.ndarray) -> np.ndarray:
    """(n_slots, N_SUBBANDS) → (SLOTS_PER_BLOCK, N_SUBBANDS): sums over repeats of the block."""
    folded = np.zeros((SLOTS_PER_BLOCK, N_SUBBANDS), dtype=complex)
    np.add.at(folded, np.arange(len(phasors)) % SLOTS_PER_BLOCK, phasors)
    return folded


def _search(x16: np.ndarray, layout: _Layout, step: float) -> tuple[float, np.ndarray, int]:
    """Best (z, folded phasors aligned to the block, n_hypotheses) over sub-hop offsets, frame phases, shifts
    and tile weightings.

    Tile phasor u = exp(2πi·level/Δ); with the keyed lattice phasor v, u·conj(v) is near one common phase (the
    gain's turn) on marked pilot tiles and, for a host that does not know the key, a uniformly random phase:
    the sum over tiles, over sqrt(Σ|u|²/2), is a sub-Gaussian vector in the plane (module docstring).
    """
    best_z, best_folded, n_hyp = -np.inf, np.zeros((SLOTS_PER_BLOCK, N_SUBBANDS), dtype=complex), 0
    pilot_pattern = np.where(layout.is_pilot, np.conj(layout.dither), 0.0)
    is_pilot = layout.is_pilot.astype(float)
    for offset in range(0, HOP, SUB_HOP_STEP):
        if len(x16) - offset < N_FFT * 2:
            continue
        band_power = _band_power(_stft(x16[offset:]))
        for phase in range(FRAMES_PER_SLOT):
            tiles = _tiles(band_power, phase)
            if not tiles.active.any():
                continue
            phasors = np.exp(2j * np.pi * tiles.levels / step)
            for weights in tiles.weights:
                folded = _fold(phasors * weights)
                # Σ_j folded[j,b] · conj(v[(j-k)%P, b]) on pilot tiles, every shift k, summed over bands
                numerator = _correlate_cyclic_bands(folded, pilot_pattern).sum(axis=1)  # (P,)
                energy = _correlate_cyclic_bands(np.abs(folded) ** 2, is_pilot).real.sum(axis=1)  # (P,)
                z = np.abs(numerator) / np.sqrt(np.maximum(energy / 2, LOG_EPS))
                n_hyp += z.size
                k = int(np.argmax(z))
                if z[k] > best_z:
                    # undo the gain's turn, so data tiles read as ±1
                    best_z = float(z[k])
                    best_folded = (
                        np.roll(folded, -k, axis=0) * np.conj(numerator[k]) / max(abs(numerator[k]), LOG_EPS)
                    )
    return best_z, best_folded, n_hyp


def _correlate_cyclic_bands(folded: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """(SLOTS_PER_BLOCK, N_SUBBANDS): c[k, b] = Σ_j folded[j, b] · pattern[(j - k) % P, b] for every shift k.

    Slot j of the clip sits at block position (j - k) % P when the clip starts k slots into a block.
    """
    return np.fft.ifft(np.fft.fft(folded, axis=0) * np.conj(np.fft.fft(np.conj(pattern), axis=0)), axis=0)


def detect(
    audio: np.ndarray,
    sr: int,
    keys: tuple[InstallKey, ...] | list[InstallKey] = (),
    params: WatermarkParams = WatermarkParams(),  # noqa: B008 (frozen dataclass)
) -> Detection:
    """Look for a Timbre mark in `audio` (n,) at `sr` Hz (float or int16, any rate, any length).

    Presence needs about 1 s of sound, the payload about 3 s (more is better: repeats are folded together).
    `keys`: this install's key(s); they decide `signed_by_this_install`.
    """
    z, p, folded = _analyse(audio, sr, params)
    detected = p < FALSE_ALARM_THRESHOLD
    if not detected:
        return Detection(False, p, None, None, float(z))
    read = decode_payload(folded, keys)
    return Detection(True, p, read.payload, read.signed_by_this_install, float(z))


def _analyse(audio: np.ndarray, sr: int, params: WatermarkParams) -> tuple[float, float, np.ndarray]:
    """(z, false-alarm bound, block-aligned de-rotated tile phasors) of the best alignment."""
    x = _to_float(audio)
    x16 = _resample(x, sr, WM_SR) if len(x) else x
    if len(x16) < N_FFT * 2 or not np.any(x16):
        return 0.0, 1.0, np.zeros((SLOTS_PER_BLOCK, N_SUBBANDS), dtype=complex)
    z, folded, n_hyp = _search(x16, _layout(), params.step)
    return z, _false_alarm_bound(z, n_hyp), folded


def _false_alarm_bound(z: float, n_hypotheses: int) -> float:
    """Union over the alignments tried of P(|S| ≥ z·σ) ≤ (e z²/2)·exp(-z²/2) for the 2-D sub-Gaussian sum."""
    if z * z <= 2:
        return 1.0
    return float(min(1.0, n_hypotheses * math.e * z * z / 2 * math.exp(-0.5 * z * z)))


def _soft_bits(folded: np.ndarray, layout: _Layout) -> np.ndarray:
    """(CODED_BITS,) soft coded bits (+: 1) from block-aligned, de-rotated tile phasors (weighted as the
    detector chose). (v2 also scaled each sub-band by its pilots' agreement: on the bench's codec clips that
    estimate was noisy enough to read 4 times more payloads wrong.)
    """
    is_data = layout.data_bit >= 0
    tiles = (folded * np.conj(layout.dither)).real  # +: lattice of bit 0, -: bit 1
    soft = np.zeros(CODED_BITS)
    np.add.at(soft, layout.data_bit[is_data], -tiles[is_data])
    return soft / (np.sqrt((np.abs(folded[is_data]) ** 2).mean()) + LOG_EPS)


@dataclass(frozen=True)
class PayloadRead:
    """`bits`: the plain read (before the CRC); `payload`, `signed_by_this_install` as in `Detection`."""

    bits: np.ndarray
    payload: Payload | None
    signed_by_this_install: bool | None


def decode_payload(folded: np.ndarray, keys: tuple[InstallKey, ...] | list[InstallKey] = ()) -> PayloadRead:
    """Read the payload from block-aligned tile phasors (`_analyse`), key-aided when the plain read does not
    verify as one of `keys`' (module docstring: the list decoding and its false-acceptance odds)."""
    soft = _soft_bits(folded, _layout())
    bits = viterbi_decode(soft, PAYLOAD_BITS)
    payload = bits_to_payload(bits)
    if not keys:
        return PayloadRead(bits, payload, None)
    if payload is not None and any(verify(payload, key) for key in keys):
        return PayloadRead(bits, payload, True)
    for install_id in dict.fromkeys(key.install_id for key in keys):  # one list per install id, in key order
        own = [key for key in keys if key.install_id == install_id]
        prefix = _int_bits(install_id, INSTALL_ID_BITS)
        for candidate in list_viterbi_decode(soft, PAYLOAD_BITS, KEY_AIDED_LIST_SIZE, prefix):
            read = bits_to_payload(candidate)
            if read is not None and any(verify(read, key) for key in own):
                return PayloadRead(bits, read, True)
    return PayloadRead(bits, payload, None if payload is None else False)


# --------------------------------------------------------------------------------------------------
# Start-up self-check

SELF_CHECK_SR = 24000
SELF_CHECK_SECONDS = 3.5
SELF_CHECK_F0_HZ = 140.0
SELF_CHECK_HARMONICS = 40
SELF_CHECK_SYLLABLE_HZ = 4.0
SELF_CHECK_GENERATION_ID = 0xC0FFEE


def self_check_signal(sr: int = SELF_CHECK_SR, seconds: float = SELF_CHECK_SECONDS) -> np.ndarray:
    """A deterministic speech-like test signal (n,) float32 at `sr`: a gliding harmonic tone with a
    1/f spectral tilt, syllable-rate bursts and pauses."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = SELF_CHECK_F0_HZ * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    harmonics = np.arange(1, SELF_CHECK_HARMONICS + 1)
    voiced = (np.sin(np.outer(phase, harmonics)) / harmonics).sum(axis=1)
    envelope = np.clip(np.sin(2 * np.pi * SELF_CHECK_SYLLABLE_HZ * t / 2), 0, None) ** 0.5
    hiss = np.random.default_rng(0).standard_normal(len(t)) * 0.02
    x = (voiced + hiss) * envelope
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


def self_check(key: InstallKey) -> None:
    """Embed and detect on `self_check_signal`; raise `WatermarkError` with the reason if marking is broken.

    Checks: the mark is embedded (the signal changed, by less than the SNR floor allows), detected, its
    payload reads back exactly, and it verifies as `key`'s. About 0.5 s on one CPU core.
    """
    sr = SELF_CHECK_SR
    x = self_check_signal(sr)
    payload = sign(key, SELF_CHECK_GENERATION_ID)
    try:
        y = embed(x, sr, payload)
        found = detect(y, sr, [key])
    except Exception as exc:  # any failure inside the marker is a failed self-check, never a silent pass
        raise WatermarkError(f"watermark self-check failed: {type(exc).__name__}: {exc}") from exc
    if y.shape != x.shape or y.dtype != x.dtype:
        raise WatermarkError(f"watermark self-check failed: embed returned {y.shape} {y.dtype} for {x.shape}")
    change = float(np.sum((y.astype(np.float64) - x) ** 2))
    if change == 0.0:
        raise WatermarkError("watermark self-check failed: embedding left the test signal unchanged")
    snr_db = 10 * np.log10(float(np.sum(x.astype(np.float64) ** 2)) / change)
    if snr_db < WatermarkParams().min_snr_db - 1.0:
        raise WatermarkError(f"watermark self-check failed: the mark is too loud (SNR {snr_db:.1f} dB)")
    if not found.detected:
        bound = found.false_alarm_probability
        raise WatermarkError(f"watermark self-check failed: not detected (false-alarm bound {bound:.2g})")
    if found.payload != payload:
        raise WatermarkError(f"watermark self-check failed: payload read as {found.payload}, not {payload}")
    if found.signed_by_this_install is not True:
        raise WatermarkError("watermark self-check failed: this install's signature did not verify")
