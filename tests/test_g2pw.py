"""G2PW path: a tiny ONNX model with the reference model's input/output signature, built in tmp_path.

The model is an oracle: the label of a polyphone depends on the token right after it, so the tests check
the plumbing (bopomofo labels, masks, character ids, token positions, context cropping, batch sharing) on
real outputs rather than a real model's accuracy.
"""

import json
from pathlib import Path

import pytest

from core.errors import PretrainedMissingError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

import torch  # noqa: E402

from core.text import text_to_phones  # noqa: E402
from core.text.g2pw import G2PW, load_if_present  # noqa: E402
from core.text.zh_g2p import g2p_zh  # noqa: E402

POLYPHONIC = [
    ("行", "ㄒㄧㄥ2"),
    ("行", "ㄏㄤ2"),
    ("長", "ㄔㄤ2"),
    ("長", "ㄓㄤ3"),
    ("還", "ㄏㄞ2"),
    ("還", "ㄏㄨㄢ2"),
]
BOPOMOFO = {
    "ㄒㄧㄥ": "xing",
    "ㄏㄤ": "hang",
    "ㄔㄤ": "chang",
    "ㄓㄤ": "zhang",
    "ㄏㄞ": "hai",
    "ㄏㄨㄢ": "huan",
    "ㄧㄣ": "yin",
}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"銀行長還錢大他的很我一二三四五六七八九十是"]
# (char, next token) -> label the oracle prefers; anything else gets the char's first label.
RULES = {("行", "長"): "ㄏㄤ2", ("行", "行"): "ㄏㄤ2", ("長", "大"): "ㄓㄤ3", ("還", "錢"): "ㄏㄨㄢ2"}
S2T = str.maketrans({"银": "銀", "长": "長", "还": "還", "钱": "錢"})


class _Oracle(torch.nn.Module):
    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("table", table)  # (n_chars, vocab, n_labels)

    def forward(self, input_ids, token_type_ids, attention_mask, phoneme_mask, char_ids, position_ids):
        rows = input_ids.expand(char_ids.shape[0], -1)  # (N, T): one shared row or one per query
        following = rows.gather(1, (position_ids + 1).unsqueeze(1)).squeeze(1)  # (N,)
        scores = self.table[char_ids, following]  # (N, L)
        scores = scores + 0.0 * (token_type_ids.sum() + attention_mask.sum())
        return torch.softmax(scores, dim=-1) * phoneme_mask


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("g2pw")
    model_dir, tok_dir = root / "G2PWModel", root / "bert"
    model_dir.mkdir()
    tok_dir.mkdir()
    (model_dir / "POLYPHONIC_CHARS.txt").write_text("\n".join(f"{c}\t{p}" for c, p in POLYPHONIC), "utf-8")
    (model_dir / "MONOPHONIC_CHARS.txt").write_text("銀\tㄧㄣ2\n", "utf-8")
    (model_dir / "bopomofo_to_pinyin_wo_tune_dict.json").write_text(json.dumps(BOPOMOFO), "utf-8")
    (model_dir / "char_bopomofo_dict.json").write_text("{}", "utf-8")
    (model_dir / "config.py").write_text(
        'model_source = "bert-base-chinese"\nuse_mask = True\nuse_char_phoneme = False\n'
        'raise SystemExit("config.py must be read as data, not executed")\n',
        "utf-8",
    )
    (tok_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", "utf-8")
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer"}), "utf-8")

    labels = sorted({p for _, p in POLYPHONIC})
    chars = sorted({c for c, _ in POLYPHONIC})
    table = torch.zeros(len(chars), len(VOCAB), len(labels))
    for ci, char in enumerate(chars):
        table[ci, :, labels.index(next(p for c, p in POLYPHONIC if c == char))] = 1.0
        table[ci, :, labels.index("ㄏㄤ2")] += 3.0  # a strong unmasked label: the phoneme mask must hide it
    for (char, token), label in RULES.items():
        table[chars.index(char), VOCAB.index(token), labels.index(label)] = 5.0
    n, t = 2, 5
    args = (torch.zeros(n, t, dtype=torch.long),) * 3 + (
        torch.ones(n, len(labels)),
        torch.zeros(n, dtype=torch.long),
        torch.zeros(n, dtype=torch.long),
    )
    names = ["input_ids", "token_type_ids", "attention_mask", "phoneme_mask", "char_ids", "position_ids"]
    torch.onnx.export(
        _Oracle(table),
        args,
        str(model_dir / "g2pW.onnx"),
        input_names=names,
        output_names=["probs"],
        dynamic_axes={
            "input_ids": {0: "B", 1: "T"},
            "token_type_ids": {0: "B", 1: "T"},
            "attention_mask": {0: "B", 1: "T"},
            "phoneme_mask": {0: "N"},
            "char_ids": {0: "N"},
            "position_ids": {0: "N"},
        },
        dynamo=False,
    )
    return model_dir, tok_dir


@pytest.fixture(scope="module")
def g2pw(model_dirs: tuple[Path, Path]) -> G2PW:
    return G2PW.load(*model_dirs, to_traditional=lambda s: s.translate(S2T))


def test_polyphones_are_read_by_the_model_and_others_by_tables(g2pw: G2PW) -> None:
    assert g2pw.predict(["银行行长还钱"]) == [["yin2", "hang2", "hang2", "chang2", "huan2", "qian2"]]
    assert g2pw.predict(["长大", "还我", "我还钱"]) == [
        ["zhang3", "da4"],
        ["hai2", "wo3"],
        ["wo3", "huan2", "qian2"],
    ]


def test_phoneme_mask_keeps_each_character_to_its_own_readings(g2pw: G2PW) -> None:
    # the oracle scores ㄏㄤ2 highest for every character; only 行 may take it
    (readings,) = g2pw.predict(["他还很长"])
    assert readings[1] == "hai2" and readings[3] == "chang2"


def test_shared_sentence_gives_the_same_readings_as_single_queries(g2pw: G2PW) -> None:
    together = g2pw.predict(["行长还钱行"])[0]
    alone = [g2pw.predict([s])[0] for s in ("行长", "长还", "还钱")]
    assert together[:4] == [alone[0][0], alone[1][0], alone[2][0], "qian2"]


def test_long_sentence_is_cropped_around_the_polyphones(g2pw: G2PW) -> None:
    filler = "一二三四五六七八九十" * 3
    (readings,) = g2pw.predict([filler + "长大" + filler])
    assert readings[len(filler)] == "zhang3"
    (readings,) = g2pw.predict(["长大" + filler + "行长" + filler])
    assert readings[0] == "zhang3" and readings[len(filler) + 2] == "hang2"


def test_g2p_with_g2pw_uses_the_model_readings(g2pw: G2PW) -> None:
    phones, word2ph = g2p_zh("他还钱,长大.", g2pw=g2pw, reference_compat=True)
    assert phones == ["t", "a1", "h", "uan2", "q", "ian2", ",", "zh", "ang3", "d", "a4", "."]
    assert word2ph == [2, 2, 2, 1, 2, 2, 1]
    assert g2p_zh("他还钱,长大.", g2pw=g2pw)[0] == phones


def test_missing_model_files_raise_pretrained_missing(tmp_path: Path, model_dirs: tuple[Path, Path]) -> None:
    with pytest.raises(PretrainedMissingError, match="g2pW.onnx"):
        G2PW.load(tmp_path, model_dirs[1], to_traditional=str)


def test_text_to_phones_reads_polyphones_with_a_given_g2pw_model(g2pw: G2PW) -> None:
    result = text_to_phones("他还钱,长大.", "all_zh", g2pw=g2pw, reference_compat=True)
    assert result.phones == ["t", "a1", "h", "uan2", "q", "ian2", ",", "zh", "ang3", "d", "a4", "."]


def test_g2pw_is_optional_when_the_model_folder_is_absent(tmp_path: Path) -> None:
    assert load_if_present(tmp_path) is None
