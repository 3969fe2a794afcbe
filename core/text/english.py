"""English G2P: normalized English text -> ARPAbet phones (v2 symbols).

`g2p_en(norm_text, reference_compat=True)` reproduces GPT-SoVITS v2's `english.g2p` followed by the `,`
padding `text/cleaner.py` adds to English segments of fewer than 4 phones. Per token (NLTK's TweetTokenizer,
tagged with NLTK's averaged-perceptron POS tagger):

1. no letter: the token itself (punctuation);
2. one letter: its dictionary reading (a capital `A` alone is `EY1`);
3. a homograph (g2p_en's table plus `read`/`complex`): the reading chosen by the POS tag;
4. otherwise the lexicon (`cmudict.rep` + `cmudict-fast.rep`, overridden by `engdict-hot.rep`, minus
   AE AI AR IOS HUD OS), then title-case names (`namedict`), then letter by letter for 3 letters or fewer,
   then the possessive `'s` rule, then a word-segment split into known words, then g2p_en's neural predictor.

The default mode (`reference_compat=False`) adds POS rules for homographs g2p_en lacks (live, wind, wound,
dove, lead as a verb, lives as a noun), swaps the two readings of the entries g2p_en's table has the wrong
way round (object, rebel, segment, ...: `_SWAPPED_HOMOGRAPHS`), reads a homograph as a verb after
"please"/"to"/a modal, as a sentence-initial imperative (Close the door, Use three cups) or as its sentence's
only verb after a noun subject (Students protest against fees), and as a noun after a determiner (his
conduct), reads a sentence-initial article `A` as AH0, reads present/past homographs
(read, reread, misread, proofread) by the tense their sentence shows (I read it yesterday: R EH1 D; cues in
`data/en_tense_homographs.tsv`), reads sense homographs (bass, bow, row, tear) by the words around them
(`data/en_sense_homographs.tsv`), reads unknown hyphenated compounds part by part and unknown contractions as
base + clitic (she'd've). `overrides` (lower-cased word -> ARPAbet phones, from inline `<...>` or the user
dictionary) win over everything in both modes.

Data is loaded lazily on first use and cached (one copy per process); nothing is read at import time.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import TextError
from core.text.en_normalize import normalize_en
from core.text.symbols import is_symbol

__all__ = ["g2p_en", "normalize_en", "lexicon_lookup"]

_DATA_DIR = Path(__file__).resolve().parent / "data"
_CMUDICT = "cmudict.rep.gz"
_CMUDICT_FAST = "cmudict-fast.rep.gz"
_CMUDICT_HOT = "engdict-hot.rep"
_NAMEDICT = "namedict.json.gz"
_TENSE_TABLE = "en_tense_homographs.tsv"
_SENSE_TABLE = "en_sense_homographs.tsv"
_CAPITALISED_CUE = "@capitalised"  # a sense table cue: the word is capitalised but does not open the sentence
_TAGGER_ZIP = "averaged_perceptron_tagger_eng.zip"
_TAGGER_PREFIX = "averaged_perceptron_tagger_eng/averaged_perceptron_tagger_eng"

# cmudict.rep starts with a 56-line comment header.
_CMUDICT_HEADER_LINES = 56
# Abbreviations the reference removes from the lexicon because their dictionary reading is wrong.
_REMOVED_WORDS = ("ae", "ai", "ar", "ios", "hud", "os")
# Phones the reference drops from the G2P output (word separators and decoder specials).
_DROPPED = frozenset({" ", "<pad>", "UW", "</s>", "<s>"})
_MIN_PHONES = 4  # English segments with fewer phones get a leading "," pause

# The reference's own corrections to g2p_en's homograph table: (reading if POS matches, else, POS prefix).
_HOMOGRAPH_FIXES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "read": (("R", "IY1", "D"), ("R", "EH1", "D"), "VBP"),
    "complex": (
        ("K", "AH0", "M", "P", "L", "EH1", "K", "S"),
        ("K", "AA1", "M", "P", "L", "EH0", "K", "S"),
        "JJ",
    ),
}

# Default mode only: homographs missing from g2p_en's table. Each maps POS-tag prefixes to a reading; a tag
# that matches none keeps the lexicon's reading.
_EXTRA_HOMOGRAPHS: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]] = {
    "live": ((("VB",), ("L", "IH1", "V")), (("JJ", "RB"), ("L", "AY1", "V"))),
    "lives": ((("VBZ",), ("L", "IH1", "V", "Z")), (("NNS",), ("L", "AY1", "V", "Z"))),
    "wind": ((("VB",), ("W", "AY1", "N", "D")), (("NN",), ("W", "IH1", "N", "D"))),
    "winds": ((("VBZ",), ("W", "AY1", "N", "D", "Z")), (("NN",), ("W", "IH1", "N", "D", "Z"))),
    "wound": ((("VBD", "VBN"), ("W", "AW1", "N", "D")), (("NN", "JJ", "VB"), ("W", "UW1", "N", "D"))),
    "dove": ((("VB",), ("D", "OW1", "V")), (("NN",), ("D", "AH1", "V"))),  # the verb is only dive's past
    "sow": ((("VB",), ("S", "OW1")), (("NN",), ("S", "AW1"))),
    "minute": ((("JJ",), ("M", "AY0", "N", "UW1", "T")),),
    "lead": ((("VB", "MD"), ("L", "IY1", "D")),),
    "invalid": ((("JJ",), ("IH2", "N", "V", "AE1", "L", "AH0", "D")),),  # not valid; the noun keeps IH1
}

# Default mode only: g2p_en's homograph table gives these the noun reading for a verb and the verb reading for
# a noun (OBJECT|AA1 B JH EH0 K T|...|V: "I object" read as the noun); their two readings are swapped.
_SWAPPED_HOMOGRAPHS = frozenset(
    "object rebel fragment segment torment exploit exploits imprint misconduct subcontract "
    "counterbalance".split()
)

# g2p_en's output alphabets (its checkpoint's embedding rows, in order).
_GRAPHEMES = ("<pad>", "<unk>", "</s>", *"abcdefghijklmnopqrstuvwxyz")
_PHONEMES = (
    "<pad>", "<unk>", "<s>", "</s>",
    "AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2", "AW0", "AW1", "AW2",
    "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2", "EY0", "EY1", "EY2",
    "F", "G", "HH", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW0", "OW1",
    "OW2", "OY0", "OY1", "OY2", "P", "R", "S", "SH", "T", "TH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1",
    "UW2", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
_START, _END = 2, 3  # decoder <s> and </s> ids
_MAX_DECODE_STEPS = 20

_VOICELESS_FINAL = frozenset({"P", "T", "K", "F", "TH", "HH"})
_SIBILANT_FINAL = frozenset({"S", "Z", "SH", "ZH", "CH", "JH"})
_POSSESSIVE_RE = re.compile(r"^([a-z]+)('s)$")
_HAS_LETTER_RE = re.compile("[a-z]")
# Default mode: a contraction the lexicon lacks (she'd've) = its known base + the clitic's reading
# (long form after a consonant, short form after a vowel).
_CONTRACTION_RE = re.compile(r"^(.+)'(ve|ll|d)$")
_CONTRACTION_SUFFIXES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ve": (("AH0", "V"), ("V",)),
    "ll": (("AH0", "L"), ("L",)),
    "d": (("AH0", "D"), ("D",)),
}


# --- data loading (lazy, cached)
def _g2p_en_package_dir() -> Path:
    """g2p_en's install folder, found without importing it (its import tries `nltk.download`)."""
    spec = importlib.util.find_spec("g2p_en")
    if spec is None or not spec.submodule_search_locations:
        raise TextError(
            "the English G2P needs the g2p_en package (its homograph table and neural model); "
            "install it with `pip install g2p_en==2.1.0`"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _open_data(name: str) -> Path:
    path = _DATA_DIR / name
    if not path.is_file():
        raise TextError(f"English pronunciation data {path} is missing; reinstall Timbre (core/text/data/)")
    return path


@functools.lru_cache(maxsize=1)
def _lexicon() -> dict[str, tuple[str, ...]]:
    """Lower-cased word -> its first reading, built exactly as the reference builds its dictionary."""
    lexicon: dict[str, tuple[str, ...]] = {}
    with gzip.open(_open_data(_CMUDICT), "rt", encoding="utf-8") as f:
        for index, line in enumerate(f):
            if index < _CMUDICT_HEADER_LINES:
                continue
            fields = line.strip().split("  ")
            lexicon[fields[0].lower()] = tuple(fields[1].split(" "))
    with gzip.open(_open_data(_CMUDICT_FAST), "rt", encoding="utf-8") as f:
        for line in f:
            fields = line.strip().split(" ")
            lexicon.setdefault(fields[0].lower(), tuple(fields[1:]))
    with _open_data(_CMUDICT_HOT).open(encoding="utf-8") as f:
        for line in f:
            fields = line.strip().split(" ")
            lexicon[fields[0].lower()] = tuple(fields[1:])
    for word in _REMOVED_WORDS:
        del lexicon[word]
    return lexicon


@functools.lru_cache(maxsize=1)
def _names() -> dict[str, tuple[str, ...]]:
    """Lower-cased first name / surname -> first reading (used only for title-case words)."""
    with gzip.open(_open_data(_NAMEDICT), "rt", encoding="utf-8") as f:
        raw = json.load(f)
    return {word: tuple(readings[0]) for word, readings in raw.items()}


@functools.lru_cache(maxsize=1)
def _homographs() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], str]]:
    """g2p_en's homograph table (word -> reading for the POS, other reading, POS prefix) + the fixes."""
    table: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}
    path = _g2p_en_package_dir() / "homographs.en"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        headword, pron1, pron2, pos = line.strip().split("|")
        table[headword.lower()] = (tuple(pron1.split()), tuple(pron2.split()), pos)
    table.update(_HOMOGRAPH_FIXES)
    return table


@functools.lru_cache(maxsize=1)
def _tagger():  # -> nltk PerceptronTagger
    """NLTK's averaged-perceptron English POS tagger, read from the copy shipped in core/text/data."""
    from nltk.tag.perceptron import PerceptronTagger

    with zipfile.ZipFile(_open_data(_TAGGER_ZIP)) as z:
        params = [
            json.loads(z.read(f"{_TAGGER_PREFIX}.{part}.json")) for part in ("weights", "tagdict", "classes")
        ]
    tagger = PerceptronTagger(load=False)
    tagger.decode_json_params(params)
    return tagger


@functools.lru_cache(maxsize=1)
def _tokenizer():  # -> nltk TweetTokenizer
    from nltk.tokenize.casual import TweetTokenizer

    return TweetTokenizer()


@functools.lru_cache(maxsize=1)
def _segmenter():  # -> wordsegment.Segmenter
    from wordsegment import Segmenter

    segmenter = Segmenter()
    segmenter.load()
    return segmenter


class _NeuralG2P:
    """g2p_en's GRU encoder-decoder (checkpoint20.npz) in numpy, float32, greedy decoding.

    Reproduces `g2p_en.G2p.predict` operation for operation so that its outputs match bit for bit.
    """

    def __init__(self, weights: Mapping[str, np.ndarray]) -> None:
        self.enc_emb = weights["enc_emb"]  # (n_graphemes, E)
        self.enc = tuple(weights[f"enc_{k}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh"))
        self.dec_emb = weights["dec_emb"]  # (n_phonemes, E)
        self.dec = tuple(weights[f"dec_{k}"] for k in ("w_ih", "w_hh", "b_ih", "b_hh"))
        self.fc_w = weights["fc_w"]  # (n_phonemes, H)
        self.fc_b = weights["fc_b"]  # (n_phonemes,)
        self.g2idx = {g: i for i, g in enumerate(_GRAPHEMES)}

    @staticmethod
    def _gru_cell(x: np.ndarray, h: np.ndarray, w_ih, w_hh, b_ih, b_hh) -> np.ndarray:
        """One GRU step. x: (1, E), h: (1, H) -> (1, H); gates in r, z, n order."""
        gi = np.matmul(x, w_ih.T) + b_ih  # (1, 3H)
        gh = np.matmul(h, w_hh.T) + b_hh  # (1, 3H)
        split = gi.shape[-1] * 2 // 3
        rz = 1 / (1 + np.exp(-(gi[:, :split] + gh[:, :split])))
        r, z = np.split(rz, 2, -1)
        n = np.tanh(gi[:, split:] + r * gh[:, split:])
        return (1 - z) * n + z * h

    def __call__(self, word: str) -> list[str]:
        """Lower-case word -> ARPAbet phones (at most 20; may contain `UW` or `<unk>`)."""
        ids = [self.g2idx.get(c, self.g2idx["<unk>"]) for c in [*word, "</s>"]]
        x = np.take(self.enc_emb, np.expand_dims(ids, 0), axis=0)  # (1, T, E)
        h = np.zeros((1, self.enc[1].shape[-1]), np.float32)  # (1, H)
        for t in range(len(word) + 1):
            h = self._gru_cell(x[:, t, :], h, *self.enc)
        dec = np.take(self.dec_emb, [_START], axis=0)  # (1, E)
        phones: list[str] = []
        for _ in range(_MAX_DECODE_STEPS):
            h = self._gru_cell(dec, h, *self.dec)
            logits = np.matmul(h, self.fc_w.T) + self.fc_b  # (1, n_phonemes)
            pred = int(logits.argmax())
            if pred == _END:
                break
            phones.append(_PHONEMES[pred] if pred < len(_PHONEMES) else "<unk>")
            dec = np.take(self.dec_emb, [pred], axis=0)
        return phones


@functools.lru_cache(maxsize=1)
def _neural() -> _NeuralG2P:
    path = _g2p_en_package_dir() / "checkpoint20.npz"
    if not path.is_file():
        raise TextError(f"g2p_en's model {path} is missing; reinstall it with `pip install g2p_en==2.1.0`")
    with np.load(path) as npz:
        return _NeuralG2P({k: npz[k] for k in npz.files})


@functools.lru_cache(maxsize=4096)
def _predict(word: str) -> tuple[str, ...]:
    return tuple(_neural()(word))


# --- lookup
def lexicon_lookup(word: str) -> list[str] | None:
    """The lexicon's first reading of `word` (case-insensitive), or None when it is not listed."""
    pron = _lexicon().get(word.lower())
    return list(pron) if pron is not None else None


def _spell(word: str) -> list[str]:
    lexicon = _lexicon()
    phones: list[str] = []
    for ch in word:
        if ch == "a":
            phones.append("EY1")
        elif not ch.isalpha():
            phones.append(ch)
        elif ch in lexicon:
            phones.extend(lexicon[ch])
        else:
            raise TextError(
                f"cannot spell {word!r}: {ch!r} is not an English letter; pass the text through "
                "normalize_en first or give the word a reading in the user dictionary"
            )
    return phones


def _lookup(o_word: str, *, compat: bool) -> list[str]:
    """Reading of one token that is not a homograph (the reference's `qryword`)."""
    word = o_word.lower()
    lexicon = _lexicon()
    if len(word) > 1 and word in lexicon:
        return list(lexicon[word])
    if o_word.istitle() and word in _names():
        return list(_names()[word])
    if len(word) <= 3:
        return _spell(word)
    if _POSSESSIVE_RE.match(word):
        phones = _lookup(word[:-2], compat=compat)
        if phones[-1] in _VOICELESS_FINAL:
            return [*phones, "S"]
        if phones[-1] in _SIBILANT_FINAL:
            return [*phones, "AH0", "Z"]
        return [*phones, "Z"]
    contraction = None if compat else _CONTRACTION_RE.match(word)
    if contraction and (contraction.group(1) in _lexicon() or "'" in contraction.group(1)):
        phones = _lookup(contraction.group(1), compat=compat)
        consonant, after_vowel = _CONTRACTION_SUFFIXES[contraction.group(2)]
        # A vowel (stress digit) takes the short form; so does any consonant but T/D before 'd.
        short = bool(phones) and (
            phones[-1][-1].isdigit() or (contraction.group(2) == "d" and phones[-1] not in ("T", "D"))
        )
        return [*phones, *(after_vowel if short else consonant)]
    if not compat and "-" in word.strip("-"):
        parts = [p for p in word.split("-") if p]
        if len(parts) > 1 and all(_HAS_LETTER_RE.search(p) for p in parts):
            return [ph for part in parts for ph in _lookup(part, compat=compat)]
    parts = _segmenter().segment(word)
    if len(parts) == 1:
        return list(_predict(word))
    return [ph for part in parts for ph in _lookup(part, compat=compat)]


def _homograph(word: str, pos: str, *, compat: bool) -> list[str] | None:
    table = _homographs()
    if word in table:
        pron1, pron2, pos1 = table[word]
        if not compat and word in _SWAPPED_HOMOGRAPHS:
            pron1, pron2 = pron2, pron1
        # A tag shorter than the table's POS that is its prefix also counts (only matters for `read`).
        if pos.startswith(pos1) or (len(pos) < len(pos1) and pos == pos1[: len(pos)]):
            return list(pron1)
        return list(pron2)
    if not compat and word in _EXTRA_HOMOGRAPHS:
        for prefixes, pron in _EXTRA_HOMOGRAPHS[word]:
            if pos.startswith(prefixes):
                return list(pron)
    return None


# Default mode: words after which a homograph is a verb (the tagger often misses it after "please"),
# and words that, right after a sentence-initial homograph, show it is an imperative (Close the door).
_VERB_CUES = frozenset(
    "please to will would shall should can could may might must don't doesn't didn't won't can't "
    "let's".split()
)
_OBJECT_STARTS = frozenset(
    "the a an this that these those my your his her its our their it me him them us".split()
)
_SENTENCE_ENDS = frozenset({".", "!", "?"})
# Default mode: a homograph whose adjective and noun readings differ, tagged a noun, is the adjective after a
# linking verb when the clause ends there (the changes were minute, he is content), and after a degree adverb
# (very minute).
_ADJECTIVE_HOMOGRAPHS = frozenset({"minute", "content"})
_LINKING_CUES = frozenset(
    "is are was were be been being am seem seems seemed remain remains remained".split()
)
_DEGREE_CUES = frozenset("very so too quite rather extremely fairly".split())
# Default mode: abbreviations whose period, when a number follows, is not a sentence end (Fig. 3, No. 5).
_PERIOD_ABBREVIATIONS = frozenset(
    "st mr mrs ms dr jr sr ave rd blvd ln ft mt co corp inc ltd etc vs approx dept apt no fig figs vol "
    "vols rm pp ch sec art p".split()
)


# Units that the normalizer spells out of an abbreviation, keeping its period (2 tbsp. of sugar).
_UNIT_WORDS = frozenset(
    "tablespoon tablespoons teaspoon teaspoons minute minutes hour hours second seconds pound pounds "
    "ounce ounces kilogram kilograms meter meters kilometer kilometers feet".split()
)
_NUMBER_WORDS = frozenset(
    "zero oh one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "thousand million billion trillion first second third fourth fifth sixth seventh eighth ninth tenth "
    "minus negative point".split()
)
_FINITE_TAGS = frozenset({"VBD", "VBZ", "VBP", "MD"})
# Determiners after which a word is a noun ("her" and "that" are left out: saw her lead, the dog that lives).
_NOUN_DETERMINERS = frozenset("the a an his their our my your its".split())


def _sentence_span(tokens: Sequence[str], i: int) -> tuple[int, int]:
    """The bounds [start, end) of the sentence around `tokens[i]`, its final punctuation left out."""
    start, end = i, i + 1
    while start > 0 and tokens[start - 1] not in _SENTENCE_ENDS:
        start -= 1
    while end < len(tokens) and tokens[end] not in _SENTENCE_ENDS:
        end += 1
    return start, end


def _is_main_verb(tokens: Sequence[str], tags: Sequence[str], i: int) -> bool:
    """Whether a verb/noun homograph the tagger did not tag as a verb is its sentence's only verb: it follows
    a noun or pronoun subject, no noun follows it and no other finite verb is in the sentence (Students
    protest against fees, The band records in London; not Police records show it)."""
    if tags[i].startswith("VB") or i == 0 or not (tags[i - 1].startswith("NN") or tags[i - 1] == "PRP"):
        return False
    if i + 1 < len(tags) and tags[i + 1].startswith("NN"):
        return False
    start, end = _sentence_span(tokens, i)
    return not any(tags[k] in _FINITE_TAGS for k in range(start, end) if k != i)


def _homograph_pos(tokens: Sequence[str], tags: Sequence[str], i: int) -> str:
    """The POS used to pick a homograph's reading in default mode (the tagger's, corrected by cues)."""
    prev = tokens[i - 1].lower() if i > 0 else None
    nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else None
    if prev in _VERB_CUES:
        return "VB"
    if (prev is None or prev in _SENTENCE_ENDS) and (nxt in _OBJECT_STARTS or nxt in _NUMBER_WORDS):
        return "VB"
    word = tokens[i].lower()
    if word in _homographs() or word in _EXTRA_HOMOGRAPHS:
        if _is_main_verb(tokens, tags, i):
            return "VBZ" if word.endswith("s") else "VBP"
        if prev in _NOUN_DETERMINERS and tags[i].startswith("VB"):  # his conduct, the winds: a noun
            return "NNS" if word.endswith("s") else "NN"
    clause_ends = nxt is None or not nxt[:1].isalpha()
    if tokens[i].lower() in _ADJECTIVE_HOMOGRAPHS and tags[i].startswith("NN"):
        if prev in _DEGREE_CUES or (prev in _LINKING_CUES and clause_ends):
            return "JJ"
    return tags[i]


# --- present/past homographs (default mode)
_TENSE_SCOPES = ("before", "clause", "sentence")
_TENSE_READINGS = ("present", "past")
_SENTENCE_START = "^"
_PAST_TAGS = frozenset({"VBD", "VBN"})


@dataclass(frozen=True)
class _TenseCue:
    """One row `cue <scope> <reading> <weight> <pattern>` of the tense table."""

    scope: str
    reading: str
    weight: int
    pattern: tuple[str, ...]


@dataclass(frozen=True)
class _TenseTable:
    """`data/en_tense_homographs.tsv`: the words, their two readings, the word groups and the cues."""

    words: Mapping[str, Mapping[str, tuple[str, ...]]]  # word -> {"present": phones, "past": phones}
    groups: Mapping[str, frozenset[str]]
    cues: tuple[_TenseCue, ...]


@functools.lru_cache(maxsize=1)
def _sense_table() -> dict[str, tuple[tuple[tuple[str, ...], frozenset[str]], ...]]:
    """`data/en_sense_homographs.tsv`: word -> ((reading, cue words), ...)."""
    path = _open_data(_SENSE_TABLE)
    table: dict[str, list[tuple[tuple[str, ...], frozenset[str]]]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        reading = tuple(fields[1].split()) if len(fields) == 3 else ()
        if not reading or not all(is_symbol(p) for p in reading):
            raise TextError(f"{path}:{number}: malformed line {line!r}; see the format in the file's header")
        table.setdefault(fields[0], []).append((reading, frozenset(fields[2].split())))
    return {word: tuple(senses) for word, senses in table.items()}


def _sense_reading(tokens: Sequence[str], i: int) -> list[str] | None:
    """The reading of a sense homograph at `tokens[i]` that its sentence's cue words point to, or None."""
    senses = _sense_table().get(tokens[i].lower())
    if senses is None:
        return None
    start, end = _sentence_span(tokens, i)
    context = [t.lower() for t in (*tokens[start:i], *tokens[i + 1 : end])]
    if i > start and tokens[i][:1].isupper():  # a name or a language mid-sentence (Polish, Reading)
        context.append(_CAPITALISED_CUE)
    counts = [sum(word in cues for word in context) for _, cues in senses]
    best = max(counts)
    if best == 0 or counts.count(best) > 1:
        return None
    return list(senses[counts.index(best)][0])


@functools.lru_cache(maxsize=1)
def _tense_table() -> _TenseTable:
    path = _open_data(_TENSE_TABLE)
    words: dict[str, dict[str, tuple[str, ...]]] = {}
    groups: dict[str, frozenset[str]] = {}
    cues: list[_TenseCue] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        kind = fields[0]
        if kind == "word" and len(fields) == 4:
            readings = {"present": tuple(fields[2].split()), "past": tuple(fields[3].split())}
            if all(is_symbol(p) for pron in readings.values() for p in pron):
                words[fields[1]] = readings
                continue
        elif kind == "group" and len(fields) == 3:
            groups[fields[1]] = frozenset(fields[2].split())
            continue
        elif kind == "cue" and len(fields) == 5 and fields[3].isdigit():
            cue = _TenseCue(fields[1], fields[2], int(fields[3]), tuple(fields[4].split()))
            if cue.scope in _TENSE_SCOPES and cue.reading in _TENSE_READINGS and cue.pattern:
                cues.append(cue)
                continue
        raise TextError(f"{path}:{number}: malformed line {line!r}; see the format in the file's header")
    for cue in cues:
        unknown = [e for e in cue.pattern if e.startswith("@") and e[1:] not in groups]
        if unknown:
            raise TextError(f"{path}: cue {' '.join(cue.pattern)!r} names an unknown group {unknown[0]}")
    for name in ("skip", "clause_break"):
        groups.setdefault(name, frozenset())
    return _TenseTable(words, groups, tuple(cues))


def _in_group(word: str, group: frozenset[str]) -> bool:
    return word in group or ("-" in word and all(part in group for part in word.split("-")))


def _element_matches(element: str, word: str, tag: str, table: _TenseTable) -> bool:
    """Does one pattern element match a lower-cased token with this POS tag?"""
    if element.startswith("@"):
        return _in_group(word, table.groups[element[1:]])
    if element.startswith("#"):
        return tag == element[1:] and word not in table.words
    return word == element


def _tense_reading(tokens: Sequence[str], tags: Sequence[str], i: int) -> list[str] | None:
    """The reading of a present/past homograph at `tokens[i]`, or None when it is not one.

    Sums the weights of the table's cues for each reading (the longest `before` cue; every `clause` and
    `sentence` cue, nested ones dropped); a tie goes to the tagger.
    """
    table = _tense_table()
    words = [t.lower() for t in tokens]
    if words[i] not in table.words:
        return None
    ends = _SENTENCE_ENDS | {"…"}
    first = max((k + 1 for k in range(i) if words[k] in ends), default=0)
    last = next((k for k in range(i + 1, len(words)) if words[k] in ends), len(words))
    breaks = table.groups["clause_break"]
    clause_first = max((k for k in range(first, i) if words[k] in breaks), default=first)
    clause_last = next((k for k in range(i + 1, last) if words[k] in breaks), last)

    scores = dict.fromkeys(_TENSE_READINGS, 0)
    # `before`: the tokens just before the homograph, skip words left out, after a sentence-start marker.
    window = [(_SENTENCE_START, "")] + [
        (words[k], tags[k]) for k in range(first, i) if words[k] not in table.groups["skip"]
    ]
    best: _TenseCue | None = None
    for cue in table.cues:
        n = len(cue.pattern)
        if cue.scope != "before" or n > len(window) or (best is not None and n <= len(best.pattern)):
            continue
        if all(
            (e == _SENTENCE_START and w == _SENTENCE_START)
            or (e != _SENTENCE_START and _element_matches(e, w, t, table))
            for e, (w, t) in zip(cue.pattern, window[-n:], strict=True)
        ):
            best = cue
    if best is not None:
        scores[best.reading] += best.weight
    # `clause` and `sentence`: every match not containing the homograph, minus matches nested in others.
    matches: list[tuple[int, int, _TenseCue]] = []
    for cue in table.cues:
        if cue.scope == "before":
            continue
        lo, hi = (clause_first, clause_last) if cue.scope == "clause" else (first, last)
        n = len(cue.pattern)
        for start in range(lo, hi - n + 1):
            if start <= i < start + n:
                continue
            if all(
                _element_matches(e, words[start + j], tags[start + j], table)
                for j, e in enumerate(cue.pattern)
            ):
                matches.append((start, start + n, cue))
    for start, end, cue in matches:
        nested = any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in matches)
        if not nested:
            scores[cue.reading] += cue.weight

    if scores["past"] != scores["present"]:
        reading = "past" if scores["past"] > scores["present"] else "present"
    else:
        reading = "past" if tags[i] in _PAST_TAGS else "present"
    return list(table.words[words[i]][reading])


def _abbreviation_period(tokens: Sequence[str], i: int) -> bool:
    """True for a `.` inside a sentence, which is no pause: an abbreviation's or an initialism's period.

    That is a `.` after an abbreviation, a unit or a letter before a lower-case word (Baker St. at noon,
    2 tbsp. of sugar, the U.S. now), inside an initialism (U.S., Ph.D.: a single letter and its own `.`
    follow) or after an abbreviation and before a number (Fig. 3).
    """
    if tokens[i] != "." or i == 0 or i + 1 >= len(tokens) or not tokens[i - 1][:1].isalnum():
        return False  # an ellipsis written as dots stays a pause
    nxt = tokens[i + 1]
    prev = tokens[i - 1].lower()
    abbreviated = prev in _PERIOD_ABBREVIATIONS or prev in _UNIT_WORDS or len(prev) == 1
    if abbreviated and nxt[:1].islower() and nxt not in _NUMBER_WORDS:
        return True
    if len(nxt) == 1 and nxt.isalpha() and i + 2 < len(tokens) and tokens[i + 2] == ".":
        return True
    return (nxt[:1].isdigit() or nxt in _NUMBER_WORDS) and prev in _PERIOD_ABBREVIATIONS


# Tags of the word after an article (A new day, A decrease in sales, A dozen).
_AFTER_ARTICLE_TAGS = ("JJ", "NN", "CD", "RB", "VBG", "VBN")


def _is_article_a(tokens: Sequence[str], tags: Sequence[str], i: int) -> bool:
    """Default mode: a capital `A` opening a sentence, tagged as the article before an adjective or noun, is
    read as the article, AH0, not as the letter's name (A white dove; not A is a vowel, Vitamin A levels)."""
    if tokens[i] != "A" or tags[i] != "DT" or (i > 0 and tokens[i - 1] not in _SENTENCE_ENDS):
        return False
    # A spelled letter after it (A P I's: the normalizer's split of APIs) is another letter name.
    return i + 1 < len(tags) and len(tokens[i + 1]) > 1 and tags[i + 1].startswith(_AFTER_ARTICLE_TAGS)


def _token_phones(
    o_word: str, pos: str, overrides: Mapping[str, Sequence[str]], *, compat: bool
) -> list[str]:
    word = o_word.lower()
    if word in overrides:
        return list(overrides[word])
    if _HAS_LETTER_RE.search(word) is None:
        return [word]
    if len(word) == 1:
        return ["EY1"] if o_word == "A" else list(_lexicon()[word])
    pron = _homograph(word, pos, compat=compat)
    if pron is not None:
        return pron
    return _lookup(o_word, compat=compat)


def g2p_en(
    norm_text: str,
    *,
    overrides: Mapping[str, Sequence[str]] | None = None,
    reference_compat: bool = False,
) -> list[str]:
    """Normalized English text (from `normalize_en`) -> v2 phone symbols.

    Returns ARPAbet phones with stress digits plus punctuation phones (`, . ! ? … -`); an apostrophe token
    becomes `-`, symbols outside the v2 table are dropped, and a result shorter than 4 phones gets a leading
    `,` (as the reference's `clean_text` does for English). `overrides` maps a lower-cased word to the
    ARPAbet phones to use for it (validated against the v2 table) and wins over every other rule.
    """
    overrides = overrides or {}
    for word, phones in overrides.items():
        bad = [p for p in phones if not is_symbol(p)]
        if bad or not phones:
            raise TextError(
                f"pronunciation for {word!r} has phones outside the v2 ARPAbet set: {bad or '(empty)'}; "
                "use ARPAbet with stress digits, e.g. HH AH0 L OW1"
            )
    compat = reference_compat
    tokens = _tokenizer().tokenize(norm_text)
    tags = [tag for _, tag in _tagger().tag(tokens)]
    raw: list[str] = []
    for i, o_word in enumerate(tokens):
        if not compat and _abbreviation_period(tokens, i):
            continue
        # default mode: present/past homographs by tense, then sense homographs by their sentence's words
        by_context = None
        if not compat and o_word.lower() not in overrides:
            by_context = _tense_reading(tokens, tags, i) or _sense_reading(tokens, i)
        if by_context is not None:
            raw.extend(by_context)
            continue
        if not compat and o_word.lower() not in overrides and _is_article_a(tokens, tags, i):
            raw.append("AH0")
            continue
        pos = tags[i] if compat else _homograph_pos(tokens, tags, i)
        raw.extend(_token_phones(o_word, pos, overrides, compat=compat))
    phones: list[str] = []
    for ph in raw:
        if ph in _DROPPED:
            continue
        ph = "UNK" if ph == "<unk>" else ph
        if is_symbol(ph):
            phones.append(ph)
        elif ph == "'":
            phones.append("-")
    if len(phones) < _MIN_PHONES:
        phones = [",", *phones]
    return phones
