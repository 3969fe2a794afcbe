"""Zero-shot synthesis: a reference clip (and its transcript) gives the voice, T2S + SoVITS read the text.

The path of one request, as the reference's non-streaming `TTS.run` takes it:

    text ─► fragments (cut0..cut5, merge short ones, 510-character limit) ─► phone ids + BERT per fragment
         ─► buckets of similar length ─► T2S per bucket (prompt = the reference clip's semantic tokens)
         ─► SoVITS per bucket (per fragment when speed ≠ 1) ─► fragments + silences
         ─► int16 at the model's rate

Everything that is a pure function of text or numbers (splitting, bucketing, joining) is a module-level
function and can be used and tested without models; `Synthesizer` holds the four loaded models.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from core.audio import MAX_PITCH_SEMITONES, load_audio, pitch_shift, reference_spectrogram, resample, to_int16
from core.checkpoints import LoadedSoVITS, LoadedT2S, load_sovits, load_t2s
from core.errors import AudioError, CheckpointError, SynthesisError, TextError
from core.features import TextFeatures, prompt_codes
from core.features import text_features as _text_features
from core.kept import KeptResults
from core.memory import return_freed_memory
from core.models.bert import BertPhoneFeatures
from core.models.hubert import HUBERT_SR, HubertContent
from core.models.precision import ENCODER_PRECISION, convert_t2s, convert_vocoder
from core.models.sovits import CODE_UPSAMPLE
from core.models.t2s import SEMANTIC_HZ_FOR_EARLY_STOP, T2SDecodeSettings
from core.pretrained import BERT_DIR, HUBERT_DIR
from core.settings import FP32
from core.text import LANGUAGES, UserDictionary
from core.text.g2pw import G2PW, load_if_present

# ----------------------------------------------------------------------------------------------------
# Constants (the reference's numbers)

SPLIT_METHODS = ("cut0", "cut1", "cut2", "cut3", "cut4", "cut5")
"""cut0: whole; cut1: every 4 clauses; cut2: ~50 characters; cut3: at 。; cut4: at `.`; cut5: every mark."""

# Characters that end a clause (fragments always end with one of these).
_CLAUSE_ENDINGS = frozenset("，。？！,.?!~:：—…")
# A fragment made only of these is dropped by the cut methods.
_PUNCTUATION_ONLY = frozenset("!?…,.- ")
# Runs of these collapse to their first character before splitting.
_COLLAPSIBLE = "!?…,.-"
# cut5 splits after each of these (a `.` between two digits is a decimal point, not a split).
_CUT5_MARKS = frozenset(",.;?!、，。？！：…")

MAX_FRAGMENT_CHARS = 510  # BERT's 512 positions minus [CLS] and [SEP]
MIN_FRAGMENT_CHARS = 5  # shorter fragments are merged into their neighbours
_MIN_FIRST_CLAUSE_CHARS = 4  # a shorter first clause gets a leading 。 (or `.` for English)

MAX_CHUNK_TOKENS = 1000  # 40 s of speech: longer chunks are not streaming any more
# Chunked streaming: SoVITS's prior sees the whole fragment so far; its flow runs from this many tokens
# before a chunk (its convolutions reach about 16 tokens back; on the tiny test models joins stop improving
# past 4), its vocoder (most of the cost, a shorter reach) from `VOCODER_CONTEXT_TOKENS` before it.
CHUNK_CONTEXT_TOKENS = 12
VOCODER_CONTEXT_TOKENS = 4
PAUSE_TOKEN = 486  # the semantic token of silence (the reference's `mute_tokens`), for pause-aware cuts
REF_MIN_SECONDS = 3.0
REF_MAX_SECONDS = 10.0
# The transcript of a reference clip: 10 s of speech is ~60 Chinese characters or ~200 of English; longer is
# not the clip's transcript, and past BERT's 510 positions the request would fail deep inside the model.
MAX_PROMPT_CHARS = 300
# Peak below which a reference clip counts as silent (-60 dBFS).
_SILENT_PEAK = 1e-3


# ----------------------------------------------------------------------------------------------------
# The request


@dataclass(frozen=True)
class Knob:
    """How a request setting is offered to people: its CLI flag and help, the values it accepts (checked by
    the request itself) and, for the UI, a slider (min, max, step) or, when None, a number box (a checkbox
    for a true/false setting). The CLI, the Synthesize tab and the HTTP API are all built from these, so a
    setting is defined once."""

    flag: str
    help: str
    low: float = -math.inf
    high: float = math.inf
    integer: bool = False
    slider: tuple[float, float, float] | None = None
    choices: tuple[str, ...] = ()


def _knob(default, flag: str, help: str, **limits):
    return field(default=default, metadata={"knob": Knob(flag, help, **limits)})


def knob_fields(owner: type | None = None) -> list[tuple[str, object, Knob]]:
    """(field name, default, Knob) of every setting a person can tune, in order, of the dataclass `owner`
    (default: `SynthesisRequest`)."""
    owner = owner or SynthesisRequest
    return [(f.name, f.default, f.metadata["knob"]) for f in fields(owner) if "knob" in f.metadata]


@dataclass(frozen=True)
class SynthesisRequest:
    """One synthesis: what to read, in which voice, and how (defaults = the reference's `TTS.run`).

    `prompt_text` empty (or blank) means reference-free mode: the clip only gives the timbre, no prompt.
    `noise_scale` scales SoVITS's prior noise (the reference's decode default, 0.5; 0 = deterministic).
    `max_sec` caps the generated speech per fragment; None takes the GPT checkpoint's `data.max_sec`.
    `reference_compat` reads text exactly as the reference does instead of Timbre's corrected readings.
    `user_dict` holds the user's fixed readings for this request (None: none).
    `pitch` shifts the finished audio by that many semitones (±12; 0 = untouched, the reference's output).
    `prompt_cached` reproduces a reference request made right after one with the same clip: the reference
    then skips HuBERT and its random draws. Timbre draws them either way (its caches never change a seeded
    result), unless this is set; it matters only for exact replays of the reference's request sequences.
    """

    text: str
    text_lang: str
    ref_audio_path: str | Path
    aux_ref_audio_paths: tuple[str | Path, ...] = ()
    prompt_text: str = ""
    prompt_lang: str = ""
    top_k: int = _knob(
        15,
        "--top-k",
        "sample among the k likeliest tokens (1: greedy)",
        low=1,
        integer=True,
        slider=(1, 100, 1),
    )
    top_p: float = _knob(
        1.0,
        "--top-p",
        "sample among the likeliest tokens that make up this probability",
        low=0.0,
        high=1.0,
        slider=(0.0, 1.0, 0.05),
    )
    temperature: float = _knob(
        1.0, "--temperature", "lower: steadier, higher: livelier", low=1e-5, slider=(0.05, 2.0, 0.05)
    )
    repetition_penalty: float = _knob(
        1.35, "--repetition-penalty", "discourages repeated sounds", low=1e-5, slider=(1.0, 2.0, 0.05)
    )
    text_split_method: str = _knob(
        "cut1", "--split-method", "how long text is cut into fragments", choices=SPLIT_METHODS
    )
    batch_size: int = _knob(
        1, "--batch-size", "fragments decoded together", low=1, integer=True, slider=(1, 20, 1)
    )
    batch_threshold: float = _knob(
        0.75,
        "--batch-threshold",
        "how alike in length batched fragments must be",
        low=0.0,
        high=1.0,
        slider=(0.0, 1.0, 0.05),
    )
    split_bucket: bool = True
    speed_factor: float = _knob(
        1.0, "--speed", "speaking rate (1: as generated)", low=0.1, high=10.0, slider=(0.6, 1.65, 0.05)
    )
    fragment_interval: float = _knob(
        0.3,
        "--fragment-interval",
        "seconds of silence after each fragment",
        low=0.0,
        high=60.0,
        slider=(0.0, 1.0, 0.01),
    )
    seed: int = _knob(
        -1, "--seed", "random seed (-1: a new one each time)", low=-1, high=2**63 - 1, integer=True
    )
    parallel_infer: bool = True
    noise_scale: float = _knob(
        0.5,
        "--noise-scale",
        "SoVITS noise (0: the same audio for the same tokens)",
        low=0.0,
        slider=(0.0, 1.0, 0.05),
    )
    max_sec: float | None = _knob(None, "--max-sec", "longest speech per fragment, seconds", low=0.1)
    reference_compat: bool = _knob(
        False, "--reference-compat", "read text exactly as GPT-SoVITS (keep its known misreadings)"
    )
    user_dict: UserDictionary | None = field(default=None, compare=False, repr=False)
    pitch: float = _knob(
        0.0,
        "--pitch",
        "pitch shift in semitones (0: none)",
        low=-MAX_PITCH_SEMITONES,
        high=MAX_PITCH_SEMITONES,
        slider=(-MAX_PITCH_SEMITONES, MAX_PITCH_SEMITONES, 0.5),
    )
    prompt_cached: bool = False
    # Chunked streaming (api_v2's streaming_mode 3, and 2 with `chunk_at_pauses`): with an `on_fragment`
    # callback, audio is handed on every `chunk_tokens` semantic tokens while T2S still runs (0: whole
    # fragments); `chunk_at_pauses` cuts at the first pause-like token past that length instead; each cut
    # is cross-faded over `chunk_overlap_tokens`. Faster first audio, slightly rougher joins.
    chunk_tokens: int = 0
    chunk_at_pauses: bool = False
    chunk_overlap_tokens: int = 2

    def __post_init__(self) -> None:
        if isinstance(self.aux_ref_audio_paths, str | Path):
            raise SynthesisError("aux_ref_audio_paths must be a list of paths, not a single path")
        object.__setattr__(self, "aux_ref_audio_paths", tuple(self.aux_ref_audio_paths))
        if not isinstance(self.text, str) or not isinstance(self.prompt_text, str):
            raise TextError("text and prompt_text must be strings")
        check_prompt_text(self.prompt_text)
        if not str(self.ref_audio_path):
            raise AudioError("no reference clip given; pass a 3–10 s recording of the voice to imitate")
        _check_language("text_lang", self.text_lang)
        if self.prompt_text.strip():
            _check_language("prompt_lang", self.prompt_lang)
        for name, default, knob in knob_fields():
            value = getattr(self, name)
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise SynthesisError(f"{name} must be true or false, got {value!r}")
            elif knob.choices:
                if value not in knob.choices:
                    raise SynthesisError(f"{name} {value!r} is unknown; use one of {', '.join(knob.choices)}")
            elif not (value is None and default is None):
                _check_range(name, value, knob.low, knob.high, integer=knob.integer)
        _check_range("chunk_tokens", self.chunk_tokens, 0, MAX_CHUNK_TOKENS, integer=True)
        _check_range("chunk_overlap_tokens", self.chunk_overlap_tokens, 0, MAX_CHUNK_TOKENS, integer=True)


def check_prompt_text(prompt_text: str) -> None:
    """Raise a `TextError` when `prompt_text` is longer than a reference clip's transcript can be."""
    if len(prompt_text) > MAX_PROMPT_CHARS:
        raise TextError(
            f"the reference clip's transcript has {len(prompt_text)} characters, over {MAX_PROMPT_CHARS}: "
            f"give what the {REF_MIN_SECONDS:g}-{REF_MAX_SECONDS:g} s clip says (or nothing, to imitate "
            "its timbre only)"
        )


def _check_language(name: str, lang: str) -> None:
    if lang not in LANGUAGES:
        raise TextError(f"{name} {lang!r} is not supported; use one of {', '.join(LANGUAGES)}")


def _check_range(name: str, value, low, high, *, integer: bool = False) -> None:
    if integer and (isinstance(value, bool) or not isinstance(value, int | np.integer)):
        raise SynthesisError(f"{name} must be an integer, got {value!r}")
    if not integer and (isinstance(value, bool) or not isinstance(value, int | float | np.number)):
        raise SynthesisError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(float(value)) or value < low or value > high:
        bounds = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise SynthesisError(f"{name} must be {bounds}, got {value!r}")


# ----------------------------------------------------------------------------------------------------
# Text splitting (pure; identical to the reference's cut0..cut5 and TextPreprocessor.pre_seg_text)


def _is_punctuation_only(text: str) -> bool:
    return set(text) <= _PUNCTUATION_ONLY


def _clauses(text: str) -> list[str]:
    """Split after every clause ending; the last clause always gets one (。 if missing)."""
    text = text.replace("……", "。").replace("——", "，")
    if not text:
        return []
    if text[-1] not in _CLAUSE_ENDINGS:
        text += "。"
    clauses, start = [], 0
    for i, char in enumerate(text):
        if char in _CLAUSE_ENDINGS:
            clauses.append(text[start : i + 1])
            start = i + 1
    return clauses


def _cut0(text: str) -> list[str]:
    return ["\n"] if _is_punctuation_only(text) else [text]


def _cut1(text: str) -> list[str]:
    text = text.strip("\n")
    clauses = _clauses(text)
    starts: list[int | None] = list(range(0, len(clauses), 4))
    starts[-1] = None  # the last group takes everything after the previous group (4 to 7 clauses)
    if len(starts) > 1:
        groups = ["".join(clauses[starts[i] : starts[i + 1]]) for i in range(len(starts) - 1)]
    else:
        groups = [text]
    return [g for g in groups if not _is_punctuation_only(g)]


def _cut2(text: str) -> list[str]:
    text = text.strip("\n")
    clauses = _clauses(text)
    if len(clauses) < 2:
        return [text]
    groups, current, n_chars = [], "", 0
    for clause in clauses:
        n_chars += len(clause)
        current += clause
        if n_chars > 50:
            groups.append(current)
            current, n_chars = "", 0
    if current:
        groups.append(current)
    if len(groups) > 1 and len(groups[-1]) < 50:  # a short tail joins the group before it
        groups[-2] += groups[-1]
        groups.pop()
    return [g for g in groups if not _is_punctuation_only(g)]


def _cut3(text: str) -> list[str]:
    text = text.strip("\n")
    return [g for g in text.strip("。").split("。") if not _is_punctuation_only(g)]


def _cut4(text: str) -> list[str]:
    text = text.strip("\n")
    return [g for g in re.split(r"(?<!\d)\.(?!\d)", text.strip(".")) if not _is_punctuation_only(g)]


def _cut5(text: str) -> list[str]:
    text = text.strip("\n")
    groups, current = [], []
    for i, char in enumerate(text):
        current.append(char)
        if char not in _CUT5_MARKS:
            continue
        if char == "." and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
            continue  # decimal point
        groups.append("".join(current))
        current = []
    if current:
        groups.append("".join(current))
    return [g for g in groups if not set(g) <= _CUT5_MARKS]


_CUTS = {"cut0": _cut0, "cut1": _cut1, "cut2": _cut2, "cut3": _cut3, "cut4": _cut4, "cut5": _cut5}


def cut(text: str, method: str) -> str:
    """Apply one split method (cut0..cut5) to `text`; fragments are joined with newlines, as the reference."""
    if method not in _CUTS:
        raise SynthesisError(f"split method {method!r} is unknown; use one of {', '.join(SPLIT_METHODS)}")
    return "\n".join(_CUTS[method](text))


def _collapse_punctuation(text: str) -> str:
    marks = "".join(re.escape(c) for c in _COLLAPSIBLE)
    return re.sub(f"([{marks}])([{marks}])+", r"\1", text)


def _first_clause(text: str) -> str:
    pattern = "[" + "".join(re.escape(c) for c in sorted(_CLAUSE_ENDINGS)) + "]"
    return re.split(pattern, text)[0].strip()


def _merge_short(fragments: list[str], min_chars: int) -> list[str]:
    """Glue fragments together until each has at least `min_chars` characters; a short tail joins the last."""
    if len(fragments) < 2:
        return fragments
    merged, current = [], ""
    for fragment in fragments:
        current += fragment
        if len(current) >= min_chars:
            merged.append(current)
            current = ""
    if current:
        if merged:
            merged[-1] += current
        else:
            merged.append(current)
    return merged


def _split_long(text: str, max_chars: int = MAX_FRAGMENT_CHARS) -> list[str]:
    """Cut a fragment over BERT's limit at clause endings (then, if still too long, every max_chars)."""
    pattern = "([" + "".join(re.escape(c) for c in sorted(_CLAUSE_ENDINGS)) + "])"
    pieces, current = [], ""
    for part in re.split(pattern, text):
        if len(current + part) > max_chars:
            pieces.append(current)
            current = part
        else:
            current += part
    if current:
        pieces.append(current)
    # The reference stops here (and fails later in BERT on a clause over the limit); cut such clauses hard.
    out = []
    for piece in pieces:
        out.extend(piece[i : i + max_chars] for i in range(0, len(piece), max_chars))
    return [p for p in out if p]


def split_fragments(text: str, lang: str, method: str = "cut1") -> list[str]:
    """The fragments a text is synthesised in, in order (the reference's `preprocess` up to phones).

    Collapses repeated punctuation, prefixes a very short first clause with 。 (`.` for English), applies the
    split method, drops empty and symbol-only fragments, merges fragments under 5 characters, ends every
    fragment with a clause mark and cuts fragments over 510 characters. Returns [] when nothing is readable.
    """
    if method not in _CUTS:
        raise SynthesisError(f"split method {method!r} is unknown; use one of {', '.join(SPLIT_METHODS)}")
    ending = "." if lang == "en" else "。"
    text = _collapse_punctuation(text).strip("\n")
    if not text:
        return []
    if text[0] not in _CLAUSE_ENDINGS and len(_first_clause(text)) < _MIN_FIRST_CLAUSE_CHARS:
        text = ending + text
    joined = cut(text, method)
    while "\n\n" in joined:
        joined = joined.replace("\n\n", "\n")
    fragments = [f for f in joined.split("\n") if f not in ("", " ")]
    fragments = _merge_short(fragments, MIN_FRAGMENT_CHARS)
    out: list[str] = []
    for fragment in fragments:
        if not fragment.strip() or not re.sub(r"\W+", "", fragment):
            continue  # blank or symbols only
        if fragment[-1] not in _CLAUSE_ENDINGS:
            fragment += ending
        if len(fragment) > MAX_FRAGMENT_CHARS:
            out.extend(_split_long(fragment))
        else:
            out.append(fragment)
    return out


def complete_prompt_text(prompt_text: str, prompt_lang: str) -> str:
    """The reference transcript as it is read: trailing newlines removed, a final clause mark ensured.

    A transcript of only whitespace counts as none ("" = reference-free mode).
    """
    if not prompt_text.strip():
        return ""
    prompt_text = prompt_text.strip("\n")
    if prompt_text[-1] not in _CLAUSE_ENDINGS:
        prompt_text += "." if prompt_lang == "en" else "。"
    return prompt_text


# ----------------------------------------------------------------------------------------------------
# Batching and joining (pure)


def make_buckets(
    lengths: Sequence[int], batch_size: int, threshold: float = 0.75, split_bucket: bool = True
) -> list[list[int]]:
    """Group fragment indices into T2S batches (the reference's `to_batch` grouping).

    With `split_bucket`, fragments are sorted by `lengths` (normalised-text characters) and each bucket takes
    up to `batch_size` neighbours, shrinking while its middle length / mean length < `threshold`. Without it,
    consecutive runs of `batch_size` in input order. Every index appears exactly once.
    """
    n = len(lengths)
    buckets: list[list[int]] = []
    if not split_bucket:
        return [list(range(start, min(start + batch_size, n))) for start in range(0, n, batch_size)]
    order = sorted(range(n), key=lambda i: lengths[i])  # stable, as the reference's list.sort
    sorted_lengths = np.array([lengths[i] for i in order], dtype=np.int64)
    pos = 0
    while pos < n:
        end = min(pos + batch_size, n)
        while pos < end:
            window = sorted_lengths[pos:end].astype(np.float32)
            score = window[(end - pos) // 2] / (window.mean() + 1e-8)
            if score >= threshold or end - pos == 1:
                buckets.append(order[pos:end])
                pos = end
                break
            end -= 1
    return buckets


def restore_order(per_bucket: Sequence[Sequence], buckets: Sequence[Sequence[int]]) -> list:
    """Put per-bucket results back in input order: `per_bucket[b][j]` belongs to fragment `buckets[b][j]`."""
    out: list = [None] * sum(len(b) for b in buckets)
    for items, indices in zip(per_bucket, buckets, strict=True):
        for item, index in zip(items, indices, strict=True):
            out[index] = item
    return out


def join_fragments(fragments: Sequence[torch.Tensor], sr: int, fragment_interval: float) -> np.ndarray:
    """Concatenate float audio fragments (each (n_i,) at `sr`), each followed by `fragment_interval` s of 0.

    A fragment whose peak exceeds 1 is scaled to peak 1 first. Returns int16 (n,) at `sr`: samples × 32768
    truncated toward zero (as the reference), clipped to the int16 range.
    """
    silence_len = int(sr * fragment_interval)
    pieces = []
    for fragment in fragments:
        fragment = fragment.detach().float().cpu()
        peak = fragment.abs().max()
        if peak > 1:
            fragment = fragment / peak
        pieces.append(fragment)
        if silence_len > 0:
            pieces.append(torch.zeros(silence_len, dtype=fragment.dtype))
    if not pieces:
        return np.zeros(0, dtype=np.int16)
    return to_int16(torch.cat(pieces).numpy())


# ----------------------------------------------------------------------------------------------------
# The pipeline


@dataclass(frozen=True)
class Reference:
    """What a reference clip contributes: its semantic tokens (the T2S prompt) and its spectrogram."""

    prompt_codes: torch.Tensor  # (T,) int64 semantic tokens, 25 Hz
    spec: torch.Tensor  # (1, filter_length//2+1, frames) linear magnitude at the model's rate


@dataclass(frozen=True)
class SynthesisResult:
    """The audio and what produced it."""

    sample_rate: int
    audio: np.ndarray  # (n,) int16 at sample_rate
    seed: int  # the seed actually used (a random one when the request said -1)
    fragments: tuple[str, ...] = ()  # normalised text of each fragment, in reading order
    tokens: tuple[tuple[int, ...], ...] = field(default=(), repr=False)  # semantic tokens per fragment


def _resolve_seed(seed: int) -> int:
    return seed if seed != -1 else secrets.randbelow(2**32)


ProgressCallback = Callable[[float, str], None]
"""Called during synthesis with (fraction done in [0, 1], what is happening). It may raise to stop the
synthesis (a job's cancellation does); the exception propagates and nothing is returned."""

FragmentCallback = Callable[[int, np.ndarray], None]
"""Called during synthesis with (index, int16 (n,) audio at the model's rate) for each finished fragment, in
reading order, its `fragment_interval` silence included: the pieces concatenated equal the final audio. With
`pitch` ≠ 0 it is called once, with the whole (shifted) audio, since a shift per fragment would differ."""

KEPT_REFERENCES = 16  # reference clips whose tokens and spectrogram a Synthesizer keeps


def _file_key(path: str | Path) -> tuple | None:
    """A key that changes when the file does: (resolved path, size, modification time); None if unreadable."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None  # load_audio says what is wrong
    return (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


class Synthesizer:
    """A loaded GPT/SoVITS pair plus HuBERT and BERT; `synthesize` turns a `SynthesisRequest` into audio.

    Each request draws its random numbers from its own generator seeded with `request.seed` (torch's global
    generator is left alone), in the reference's order: per T2S step one exponential draw, per SoVITS
    decode one normal draw, after HuBERT's one draw per encoder layer for the clip. A seeded result
    therefore equals the reference's `TTS.run` output for a request whose clip the reference had to process
    (`request.prompt_cached` replays one whose clip it had kept). The tokens and spectrograms of the last
    `KEPT_REFERENCES` clips are kept, keyed by path, size and modification time, so repeated requests with
    the same clip skip HuBERT; the kept result draws the same numbers, so results never depend on earlier
    requests. One instance may serve several threads at once: the models are only read, and each request
    has its own generator.
    """

    def __init__(
        self,
        t2s: LoadedT2S,
        sovits: LoadedSoVITS,
        hubert: HubertContent,
        bert: BertPhoneFeatures,
        device: str | torch.device = "cpu",
        *,
        g2pw: G2PW | None = None,
    ) -> None:
        _check_pair(t2s, sovits)
        self.t2s = t2s
        self.sovits = sovits
        self.hubert = hubert
        self.bert = bert
        self.device = torch.device(device)
        self.g2pw = g2pw  # Chinese polyphone model, optional (pypinyin + rules without it)
        self._references: KeptResults[tuple, Reference] = KeptResults(KEPT_REFERENCES)

    @classmethod
    def from_files(
        cls,
        gpt_path: str | Path,
        sovits_path: str | Path,
        pretrained_dir: str | Path,
        device: str | torch.device = "cpu",
        *,
        g2pw: G2PW | None = None,
        precision: str = FP32,
    ) -> Synthesizer:
        """Load a GPT `.ckpt`, a SoVITS `.pth` and HuBERT + BERT from `pretrained_dir`.

        `pretrained_dir` has the reference's layout: `chinese-hubert-base/`, `chinese-roberta-wwm-ext-large/`
        and, optionally, `G2PWModel/` (then used for Chinese polyphones; pass `g2pw` to share one already
        loaded). `precision` (a resolved `--precision`) converts the models as `core.models.precision` says;
        BERT and HuBERT are converted while they load, so their fp32 weights are never all in memory.
        """
        pretrained_dir = Path(pretrained_dir)
        t2s = load_t2s(gpt_path, device=device)
        sovits = load_sovits(sovits_path, device=device)
        _check_pair(t2s, sovits)
        convert_t2s(t2s.model, precision)
        convert_vocoder(sovits.model, precision)
        encoders = ENCODER_PRECISION[precision]
        hubert = HubertContent.from_pretrained(pretrained_dir / HUBERT_DIR, device, encoders)
        bert = BertPhoneFeatures.from_pretrained(pretrained_dir / BERT_DIR, device, encoders)
        if g2pw is None:
            g2pw = load_if_present(pretrained_dir)
        return cls(t2s, sovits, hubert, bert, device=device, g2pw=g2pw)

    # -- properties of the loaded pair ---------------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz (the SoVITS model's `data.sampling_rate`)."""
        return int(self.sovits.config.sampling_rate)

    @property
    def _samples_per_token(self) -> int:
        return CODE_UPSAMPLE * self.sovits.config.samples_per_frame

    def _early_stop_tokens(self, max_sec: float | None) -> float:
        if max_sec is None:
            max_sec = self.t2s.config.max_sec
        return SEMANTIC_HZ_FOR_EARLY_STOP * max_sec

    # -- inputs ----------------------------------------------------------------------------------------------

    def reference(
        self, path: str | Path, generator: torch.Generator | None = None, *, draws: bool = True
    ) -> Reference:
        """Prompt tokens and spectrogram of a reference clip (any common format and rate; 3–10 s long).

        Computing them runs HuBERT, which draws from `generator` as the reference's HuBERT call draws from
        torch's global generator (see `HubertContent.content`). A kept result makes the same draws, so the
        generator ends in the same state either way; `draws=False` leaves the generator untouched (the
        reference's behaviour when its previous request had the same clip).
        """
        key = _file_key(path)
        reference = self._references.get(key) if key is not None else None
        if reference is None:
            reference = self._compute_reference(path, generator if draws else torch.Generator())
            if key is not None:
                self._references.put(key, reference)
        elif draws:
            self.hubert.skip_draws(generator)
        return reference

    def forget_references(self) -> None:
        """Drop the kept reference clip results (the next requests compute their references afresh)."""
        self._references.clear()

    @torch.no_grad()
    def _compute_reference(self, path: str | Path, generator: torch.Generator | None) -> Reference:
        wav, sr = load_audio(path)
        name = Path(path).name
        wav_16k = resample(wav, sr, HUBERT_SR, method="soxr_hq")  # = librosa.load(path, sr=16000)
        seconds = wav_16k.shape[0] / HUBERT_SR
        if wav_16k.shape[0] < REF_MIN_SECONDS * HUBERT_SR or wav_16k.shape[0] > REF_MAX_SECONDS * HUBERT_SR:
            raise AudioError(
                f"{name}: the reference clip is {seconds:.2f} s long; it must be between "
                f"{REF_MIN_SECONDS:g} and {REF_MAX_SECONDS:g} s. Trim it (or pick another clip) and try again"
            )
        _check_not_silent(wav, name)
        codes = prompt_codes(wav_16k, self.hubert, self.sovits.model, self.sample_rate, generator)  # (T/2,)
        return Reference(prompt_codes=codes, spec=self._spectrogram(wav, sr))

    def _spectrogram(self, wav: np.ndarray, sr: int) -> torch.Tensor:
        cfg = self.sovits.config
        spec = reference_spectrogram(
            wav,
            sr,
            model_sr=cfg.sampling_rate,
            filter_length=cfg.filter_length,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
        )
        return spec.to(self.device, dtype=torch.float32)

    @torch.no_grad()
    def aux_spectrogram(self, path: str | Path) -> torch.Tensor:
        """Spectrogram (1, filter_length//2+1, frames) of an extra reference clip (timbre only)."""
        wav, sr = load_audio(path)
        _check_not_silent(wav, Path(path).name)
        return self._spectrogram(wav, sr)

    @torch.no_grad()
    def text_features(
        self,
        text: str,
        lang: str,
        *,
        reference_compat: bool = False,
        user_dict: UserDictionary | None = None,
    ) -> TextFeatures:
        """Phone ids and phone-level BERT features (BERT_DIM, n_phones) of one fragment
        (`core.features.text_features` with this synthesizer's BERT and G2PW)."""
        return _text_features(
            text, lang, self.bert, g2pw=self.g2pw, reference_compat=reference_compat, user_dict=user_dict
        )

    # -- the pipeline ---------------------------------------------------------------------------------

    def synthesize(self, request: SynthesisRequest) -> tuple[int, np.ndarray]:
        """Read `request.text` in the reference clip's voice. Returns (sample rate, int16 (n,) mono audio)."""
        result = self.synthesize_result(request)
        return result.sample_rate, result.audio

    @torch.no_grad()
    def synthesize_result(
        self,
        request: SynthesisRequest,
        on_progress: ProgressCallback | None = None,
        on_fragment: FragmentCallback | None = None,
    ) -> SynthesisResult:
        """Like `synthesize`, with the seed used, the fragments' texts and their semantic tokens.

        `on_progress` is called after every T2S step and SoVITS decode (see `ProgressCallback`);
        `on_fragment` with each fragment's audio as soon as it and every fragment before it are decoded
        (see `FragmentCallback`; streams use it). Neither changes the result.
        """
        report = on_progress or (lambda fraction, message: None)
        seed = _resolve_seed(request.seed)
        generator = torch.Generator(device=self.device).manual_seed(seed)

        # Which parts of the reference pipeline apply (the reference's switches).
        split_bucket = request.split_bucket and request.speed_factor == 1.0
        prompt_text = complete_prompt_text(request.prompt_text, request.prompt_lang)
        reference_free = not prompt_text

        fragments_text = split_fragments(request.text, request.text_lang, request.text_split_method)
        # HuBERT's draws advance the seeded generator (as in TTS.run for a clip it had not kept).
        reference = self.reference(request.ref_audio_path, generator, draws=not request.prompt_cached)
        specs = [reference.spec] + [self.aux_spectrogram(p) for p in request.aux_ref_audio_paths]

        prompt: TextFeatures | None = None
        if not reference_free:
            prompt = self.text_features(
                prompt_text,
                request.prompt_lang,
                reference_compat=request.reference_compat,
                user_dict=request.user_dict,
            )
        fragments = []
        for text in fragments_text:
            features = self.text_features(
                text,
                request.text_lang,
                reference_compat=request.reference_compat,
                user_dict=request.user_dict,
            )
            if features.phone_ids and features.norm_text:
                fragments.append(features)
        if not fragments:
            raise TextError(
                f"nothing to read in {_excerpt(request.text)}: it has no words or characters to speak"
            )

        if (
            on_fragment is not None
            and request.chunk_tokens
            and request.pitch == 0
            and request.speed_factor == 1
        ):
            audio, tokens = self._synthesize_chunked(
                fragments, prompt, reference, specs, request, generator, report, on_fragment
            )
            return self._result(audio, seed, fragments, tokens)
        buckets = make_buckets(
            [len(f.norm_text) for f in fragments], request.batch_size, request.batch_threshold, split_bucket
        )
        early_stop = self._early_stop_tokens(request.max_sec)
        audio_per_bucket, tokens_per_bucket = [], []
        n_done, n_total = 0, len(fragments)
        finished: dict[int, torch.Tensor] = {}  # decoded fragments not yet handed to on_fragment
        n_handed = 0
        per_fragment = on_fragment is not None and request.pitch == 0
        for bucket in buckets:
            items = [fragments[i] for i in bucket]
            # T2S is most of the time: count each fragment's steps against a guess of its length.
            expected_steps = max(8, 3 * max(len(item.phone_ids) for item in items))

            def t2s_step(
                step: int,
                running: int,
                done: int = n_done,
                n: int = len(items),
                expected: int = expected_steps,
            ) -> None:
                within = min(step / expected, 0.9) * n
                report((done + within) / n_total, f"reading fragment {done + 1} of {n_total}")

            tokens = self._semantic_tokens(items, prompt, reference, request, early_stop, generator, t2s_step)
            audio_per_bucket.append(self._decode(items, tokens, specs, request, generator))
            tokens_per_bucket.append(tokens)
            n_done += len(items)
            if per_fragment:  # buckets hold fragment indices (sorted by length with split_bucket)
                finished.update(zip(bucket, audio_per_bucket[-1], strict=True))
                while n_handed in finished:
                    piece = [finished.pop(n_handed)]
                    on_fragment(n_handed, join_fragments(piece, self.sample_rate, request.fragment_interval))
                    n_handed += 1
            report(n_done / n_total, f"read {n_done} of {n_total} fragments")

        if split_bucket:
            audio = restore_order(audio_per_bucket, buckets)
            tokens = restore_order(tokens_per_bucket, buckets)
        else:
            audio = [a for bucket_audio in audio_per_bucket for a in bucket_audio]
            tokens = [t for bucket_tokens in tokens_per_bucket for t in bucket_tokens]
        joined = join_fragments(audio, self.sample_rate, request.fragment_interval)
        shifted = pitch_shift(joined, self.sample_rate, request.pitch)
        if on_fragment is not None and not per_fragment:
            on_fragment(0, shifted)
        return self._result(shifted, seed, fragments, tokens)

    def _result(
        self, audio: np.ndarray, seed: int, fragments: list[TextFeatures], tokens: list[torch.Tensor]
    ) -> SynthesisResult:
        return SynthesisResult(
            sample_rate=self.sample_rate,
            audio=audio,
            seed=seed,
            fragments=tuple(f.norm_text for f in fragments),
            tokens=tuple(tuple(int(t) for t in tok.tolist()) for tok in tokens),
        )

    def _semantic_tokens(
        self,
        items: list[TextFeatures],
        prompt: TextFeatures | None,
        reference: Reference,
        request: SynthesisRequest,
        early_stop: float,
        generator: torch.Generator,
        on_step: Callable[[int, int], None] | None = None,
    ) -> list[torch.Tensor]:
        """T2S for one bucket: semantic tokens (n_i,) per item, prompt tokens excluded."""
        phones, berts, codes = self._t2s_inputs(items, prompt, reference)
        kwargs = dict(**_sampling(request, early_stop), generator=generator, on_step=on_step)
        if request.parallel_infer and codes is not None:
            prompts = codes[None].expand(len(items), -1)
            return list(self.t2s.model.generate(phones, berts, prompts, **kwargs))
        # One item at a time (the reference's naive path; also its only path without a prompt).
        out = []
        for ids, bert in zip(phones, berts, strict=True):
            prompts = None if codes is None else codes[None]
            out.extend(self.t2s.model.generate([ids], [bert], prompts, one_at_a_time=True, **kwargs))
        return out

    def _t2s_inputs(
        self, items: list[TextFeatures], prompt: TextFeatures | None, reference: Reference
    ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
        """T2S's inputs: per item, phone ids (T_i,) and BERT features (1024, T_i), the prompt's first; and
        the prompt's semantic codes (None without a prompt)."""
        phones, berts = [], []
        for item in items:
            ids, bert = item.phone_ids, item.bert
            if prompt is not None:
                ids = prompt.phone_ids + ids
                bert = torch.cat([prompt.bert, bert], dim=1)
            phones.append(torch.tensor(ids, dtype=torch.long, device=self.device))
            berts.append(bert.to(self.device))
        codes = None if prompt is None else reference.prompt_codes.to(self.device)
        return phones, berts, codes

    def _synthesize_chunked(
        self,
        fragments: list[TextFeatures],
        prompt: TextFeatures | None,
        reference: Reference,
        specs: list[torch.Tensor],
        request: SynthesisRequest,
        generator: torch.Generator,
        report: ProgressCallback,
        on_chunk: FragmentCallback,
    ) -> tuple[np.ndarray, list[torch.Tensor]]:
        """`synthesize_result`'s audio and tokens when streaming in chunks (`SynthesisRequest.chunk_tokens`):
        each fragment alone, in reading order (as the reference streams), its T2S stepped here so that
        SoVITS decodes the tokens made so far and `on_chunk` gets their audio before the fragment ends."""
        early_stop = self._early_stop_tokens(request.max_sec)
        pieces: list[np.ndarray] = []

        def emit(audio: np.ndarray) -> None:
            on_chunk(len(pieces), audio)
            pieces.append(audio)

        silence = np.zeros(int(self.sample_rate * request.fragment_interval), dtype=np.int16)
        tokens = []
        for index, item in enumerate(fragments):
            expected = max(8, 3 * len(item.phone_ids))
            phones, berts, codes = self._t2s_inputs([item], prompt, reference)
            settings = T2SDecodeSettings(
                **_sampling(request, early_stop), one_at_a_time=not request.parallel_infer or codes is None
            )
            model = self.t2s.model
            state = model.prefill(
                phones, berts, None if codes is None else codes[None], settings, generator=generator
            )
            decoder = _ChunkDecoder(self, item, specs, request, generator, emit)
            while model.step(state):
                report(
                    (index + min(state.step / expected, 0.9)) / len(fragments),
                    f"reading fragment {index + 1}",
                )
                decoder.offer(state.y[0, state.n_prompt : -1])  # the newest token may yet be dropped
            # What was sampled, less a dropped last token (the reference's streaming keeps the first token,
            # which its one-at-a-time whole-fragment path drops when the budget ends a fragment).
            fragment_tokens = state.full[0][state.n_prompt :].clone()
            decoder.offer(fragment_tokens, final=True)
            tokens.append(fragment_tokens)
            if silence.size:
                emit(silence)
            report((index + 1) / len(fragments), f"read {index + 1} of {len(fragments)} fragments")
        return (np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)), tokens

    def _pause_similarity(self) -> torch.Tensor | None:
        """Per semantic token, the cosine similarity of its T2S embedding to the pause token's (None when the
        model has no such token)."""
        table = self.t2s.model.audio_embedding.weight.float()  # (V, C)
        if table.shape[0] <= PAUSE_TOKEN:
            return None
        return torch.nn.functional.cosine_similarity(table[PAUSE_TOKEN][None], table, dim=-1)  # (V,)

    def _decode(
        self,
        items: list[TextFeatures],
        tokens: list[torch.Tensor],
        specs: list[torch.Tensor],
        request: SynthesisRequest,
        generator: torch.Generator,
    ) -> list[torch.Tensor]:
        """SoVITS for one bucket: float audio (n_i,) per item at the model's rate."""
        # SoVITS's activations are a request's memory peak: first give back what HuBERT, BERT and T2S freed
        # (a full-size int8 request peaked 0.15 GiB lower)
        return_freed_memory()
        decode = self.sovits.model.decode
        noise = request.noise_scale
        if request.speed_factor == 1.0:
            # The whole bucket in one call, then cut at token boundaries (as the reference).
            codes = torch.cat(tokens).to(self.device)[None, None]  # (1, 1, sum n_i)
            phones = torch.tensor([p for item in items for p in item.phone_ids], device=self.device)[None]
            audio = decode(codes, phones, specs, noise_scale=noise, speed=1.0, generator=generator)[0, 0]
            ends = np.cumsum([0] + [t.shape[0] * self._samples_per_token for t in tokens])
            return [audio[ends[i] : ends[i + 1]] for i in range(len(tokens))]
        out = []
        for item, tok in zip(items, tokens, strict=True):
            codes = tok.to(self.device)[None, None]
            phones = torch.tensor(item.phone_ids, device=self.device)[None]
            speed = request.speed_factor
            audio = decode(codes, phones, specs, noise_scale=noise, speed=speed, generator=generator)
            out.append(audio[0, 0])
        return out


def _sampling(request: SynthesisRequest, early_stop: float) -> dict:
    """The request's T2S sampling settings, as `T2SModel.generate` and `T2SDecodeSettings` name them."""
    return dict(
        top_k=request.top_k,
        top_p=request.top_p,
        temperature=request.temperature,
        repetition_penalty=request.repetition_penalty,
        early_stop_num=early_stop,
    )


class _ChunkDecoder:
    """SoVITS for one fragment, chunk by chunk, while its tokens are still being made (chunked streaming).

    `offer` the tokens made so far (a growing prefix of the fragment's); when they reach a cut (every
    `chunk_tokens`, or at a pause past that many with `chunk_at_pauses`) the new tokens are decoded
    (`SoVITS.decode_tail`: the prior over every token so far, the flow and the vocoder over the new ones and
    a little context, `CHUNK_CONTEXT_TOKENS` and `VOCODER_CONTEXT_TOKENS`), the last `chunk_overlap_tokens`
    tokens' audio is held back and cross-faded with the next chunk's decode of the same tokens, and the rest
    goes to `emit` as int16. The `final` offer sends everything: the pieces add up to exactly 1 token's
    samples per token, the length a whole-fragment decode of the same tokens has.
    """

    def __init__(
        self,
        synth: Synthesizer,
        item: TextFeatures,
        specs: list[torch.Tensor],
        request: SynthesisRequest,
        generator: torch.Generator,
        emit: Callable[[np.ndarray], None],
    ) -> None:
        self.synth, self.specs, self.request, self.generator, self.emit = (
            synth,
            specs,
            request,
            generator,
            emit,
        )
        self.phones = torch.tensor(item.phone_ids, device=synth.device)[None]  # (1, N)
        self.pauses = synth._pause_similarity() if request.chunk_at_pauses else None
        self.spt = synth._samples_per_token
        self.done = 0  # tokens decoded so far
        self.tail = np.zeros(0, dtype=np.float32)  # decoded, unsent audio of the last tokens decoded

    def _cut(self, tokens: torch.Tensor) -> int | None:
        """Where the next chunk ends (a token index), or None to wait for more tokens."""
        size, new = self.request.chunk_tokens, tokens.shape[0] - self.done
        if self.pauses is None:
            return tokens.shape[0] if new >= size else None
        if new <= size:
            return None
        score = self.pauses[tokens[self.done :]].clone()  # the reference's split rule, threshold 0
        score[score < 0] = -1
        score[:-1] += score[1:].clone()  # two pause-like tokens in a row
        best = int(score.argmax())
        return self.done + best + 1 if score[best] >= 0 and best + 1 >= size else None

    def offer(self, tokens: torch.Tensor, final: bool = False) -> None:
        end = tokens.shape[0] if final else self._cut(tokens)
        if end is None:
            return
        audio = self.tail
        if end > self.done:
            start = self.done - len(self.tail) // self.spt  # first token whose audio is not sent yet
            decoded = self.synth.sovits.model.decode_tail(
                tokens[:end].to(self.synth.device)[None, None],  # (1, 1, end)
                self.phones,
                self.specs,
                start,
                self.request.noise_scale,
                flow_context=CHUNK_CONTEXT_TOKENS,
                vocoder_context=VOCODER_CONTEXT_TOKENS,
                generator=self.generator,
            )[0, 0]
            audio = decoded.float().cpu().numpy()  # tokens start..end
            if len(self.tail):
                fade = np.linspace(0.0, 1.0, len(self.tail), endpoint=False, dtype=np.float32)
                audio[: len(self.tail)] = self.tail * (1 - fade) + audio[: len(self.tail)] * fade
        held = 0 if final else min(self.request.chunk_overlap_tokens, end - self.done) * self.spt
        self.done = end
        send, self.tail = audio[: len(audio) - held], audio[len(audio) - held :]
        if send.size:
            self.emit(to_int16(send))


def _check_not_silent(wav: np.ndarray, name: str) -> None:
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak < _SILENT_PEAK:
        raise AudioError(
            f"{name}: the reference clip is silent (peak {20 * math.log10(max(peak, 1e-12)):.0f} dBFS); "
            "choose a clip where the voice is clearly audible"
        )


def _check_pair(t2s: LoadedT2S, sovits: LoadedSoVITS) -> None:
    """A GPT and a SoVITS file must be of the same model version (v2 is what Timbre runs today)."""
    if t2s.version is not sovits.version:
        raise CheckpointError(
            f"the GPT file is a {t2s.version.value} model but the SoVITS file is {sovits.version.value}; "
            "load a matching pair (both v2)"
        )


def _excerpt(text: str, limit: int = 60) -> str:
    """`text` quoted for an error message, shortened so a huge input does not make a huge message."""
    return repr(text if len(text) <= limit else text[:limit] + "…")
