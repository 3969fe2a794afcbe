"""Text splitting, bucketing and joining: the pure parts of the synthesis pipeline (no models)."""

import numpy as np
import pytest
import torch

from core.errors import SynthesisError
from core.synthesis import (
    SPLIT_METHODS,
    complete_prompt_text,
    cut,
    join_fragments,
    make_buckets,
    restore_order,
    split_fragments,
)

FOUR_SENTENCES = "第一句话很短。第二句话稍微长一点，对吧？第三句！最后一句结束了。"


def test_cut0_keeps_the_text_whole():
    assert split_fragments(FOUR_SENTENCES, "zh", "cut0") == [FOUR_SENTENCES]


def test_cut1_groups_four_clauses_and_the_tail_joins_the_last_group():
    ten = "一，二，三，四，五，六，七，八，九，十。"
    assert cut(ten, "cut1").split("\n") == ["一，二，三，四，", "五，六，七，八，九，十。"]
    # four clauses or fewer: the text is returned as it was given
    assert cut("一，二，三，四", "cut1") == "一，二，三，四"


def test_cut2_makes_fragments_over_fifty_characters():
    clause = "这是一个用来测试按字数切分的句子，"  # 17 characters
    parts = cut(clause * 7, "cut2").split("\n")
    assert parts == [clause * 3, clause * 4]  # 51 chars, then the short tail joins the 51 after it


def test_cut3_splits_at_chinese_full_stops_and_drops_them():
    assert cut(FOUR_SENTENCES, "cut3").split("\n") == [
        "第一句话很短",
        "第二句话稍微长一点，对吧？第三句！最后一句结束了",
    ]


def test_cut4_splits_at_periods_but_not_decimal_points():
    assert cut("It costs 3.5 dollars. Fine.", "cut4").split("\n") == ["It costs 3.5 dollars", " Fine"]


def test_cut5_splits_at_every_mark_except_decimal_points():
    assert cut("价格是3.5元，好吗？", "cut5").split("\n") == ["价格是3.5元，", "好吗？"]


def test_cut5_fragments_under_five_characters_merge_with_the_next():
    assert split_fragments(FOUR_SENTENCES, "zh", "cut5") == [
        "第一句话很短。",
        "第二句话稍微长一点，",
        "对吧？第三句！",
        "最后一句结束了。",
    ]


def test_every_fragment_ends_with_a_clause_mark():
    assert split_fragments("Hi there", "en", "cut0") == ["Hi there."]
    for method in SPLIT_METHODS:
        for fragment in split_fragments(FOUR_SENTENCES + "没有句号", "zh", method):
            assert fragment[-1] in "，。？！,.?!~:：—…"


def test_a_short_first_clause_gets_a_leading_mark():
    fragments = split_fragments("你好。今天天气很好，我们去公园吧。", "zh", "cut1")
    assert fragments == ["。你好。今天天气很好，我们去公园吧。"]
    assert split_fragments("Hi, how are you today?", "en", "cut0") == [".Hi, how are you today?"]


def test_repeated_punctuation_collapses_to_one_mark():
    assert split_fragments("你好!!!???真的吗", "zh", "cut5") == ["你好!真的吗。"]


def test_text_without_anything_to_read_gives_no_fragments():
    assert split_fragments("", "zh", "cut1") == []
    assert split_fragments("\n\n", "zh", "cut1") == []
    assert split_fragments("😀😀！", "zh", "cut0") == []
    assert split_fragments("。。。", "zh", "cut5") == []


def test_fragments_never_exceed_the_bert_limit():
    text = "我" * 600 + "。" + "你好，" * 300
    fragments = split_fragments(text, "zh", "cut0")
    assert all(0 < len(f) <= 510 for f in fragments)
    assert "".join(fragments) == text


def test_unknown_split_method_is_rejected():
    with pytest.raises(SynthesisError, match="cut0"):
        split_fragments("你好。", "zh", "cut9")


def test_prompt_text_gets_a_final_mark():
    assert complete_prompt_text("这是参考音频\n", "zh") == "这是参考音频。"
    assert complete_prompt_text("This is it", "en") == "This is it."
    assert complete_prompt_text("好的！", "zh") == "好的！"
    assert complete_prompt_text("", "zh") == ""


def test_buckets_group_similar_lengths():
    assert make_buckets([10, 3, 12, 4, 11], batch_size=2, threshold=0.75) == [[1, 3], [0, 4], [2]]


def test_buckets_shrink_when_lengths_differ_too_much():
    # sorted lengths 2, 3, 30: middle/mean = 3/11.7 < 0.75 → shrink to (2, 3)
    assert make_buckets([30, 2, 3], batch_size=3, threshold=0.75) == [[1, 2], [0]]


def test_without_bucketing_batches_follow_input_order():
    assert make_buckets([10, 3, 12, 4, 11], batch_size=2, split_bucket=False) == [[0, 1], [2, 3], [4]]


def test_every_fragment_is_in_exactly_one_bucket():
    rng = np.random.default_rng(0)
    for _ in range(50):
        lengths = rng.integers(1, 100, size=rng.integers(1, 20)).tolist()
        buckets = make_buckets(lengths, int(rng.integers(1, 6)), float(rng.random()))
        assert sorted(i for b in buckets for i in b) == list(range(len(lengths)))


def test_restore_order_undoes_bucketing():
    buckets = [[1, 3], [0, 4], [2]]
    assert restore_order([["b", "d"], ["a", "e"], ["c"]], buckets) == ["a", "b", "c", "d", "e"]


def test_joining_adds_silence_after_each_fragment_and_truncates_to_int16():
    fragments = [torch.tensor([0.5, -0.25, 0.00002]), torch.tensor([0.1])]
    audio = join_fragments(fragments, sr=10, fragment_interval=0.3)
    assert audio.dtype == np.int16
    assert audio.tolist() == [16384, -8192, 0, 0, 0, 0, 3276, 0, 0, 0]


def test_a_fragment_louder_than_full_scale_is_normalised_alone():
    audio = join_fragments([torch.tensor([2.0, -1.0]), torch.tensor([0.5])], sr=10, fragment_interval=0.0)
    assert audio.tolist() == [32767, -16384, 16384]
