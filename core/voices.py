"""Saved voices: a reference clip, its transcript and language, and the GPT/SoVITS pair that reads with it,
under a name. The OpenAI-compatible API's `voice` is one of these (`POST /v1/audio/voices` saves one).

Each voice is one JSON file in the workspace's `voices/` folder; the clip lives in `uploads/` (named by its
content) and the weights wherever they were (the workspace or the pretrained folder).

A voice travels as one file (`export_voice` / `import_voice`): a zip holding `voice.json` (the preset, its
weights named relative to the workspace or the pretrained folder) and `clip.<ext>`. Weights are not packed
(hundreds of MB); the studio that imports the voice must have the same files.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from core.audio import audio_info
from core.errors import TimbreError
from core.ethics.consent import ConsentStore
from core.settings import Settings
from core.synthesis import REF_MAX_SECONDS, REF_MIN_SECONDS, check_prompt_text
from core.workspace import Workspace, atomic_write_text, confine

VOICES_DIR = "voices"
_NAME = re.compile(r"^\w[\w\-]{0,59}$", re.UNICODE)
# What the Synthesize tab records when its "I have the speaker's consent" box is ticked (the API records the
# statement its caller sends).
UI_CONSENT = "I have the speaker's consent to clone this voice (confirmed in the studio's Synthesize tab)"
ARCHIVE_SUFFIX = ".timbre-voice.zip"
ARCHIVE_FORMAT = 1
_ARCHIVE_JSON = "voice.json"
_ARCHIVE_CLIP = re.compile(r"^clip\.[a-z0-9]{1,5}$")


class VoiceError(TimbreError):
    """A voice name that is not allowed, or a voice that is not saved."""


class VoiceExistsError(VoiceError):
    """A voice of that name is already saved (and the caller did not ask to replace it)."""


@dataclass(frozen=True)
class VoicePreset:
    """What a voice is made of; paths are absolute (inside the workspace or the pretrained folder)."""

    name: str
    ref_audio_path: str
    prompt_text: str
    prompt_lang: str
    gpt_path: str
    sovits_path: str
    consent: str = ""  # the statement the person who saved it agreed to (the watermark issue requires one)
    created_at: float = field(default_factory=time.time)


def check_name(name: str) -> str:
    """`name` if it can name a voice (letters, digits, `_` and `-`, at most 60, starting with a letter or
    digit), else a `VoiceError` saying so."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise VoiceError(
            f"voice name {name!r} is not allowed; use 1-60 letters, digits, '_' or '-' "
            "(starting with a letter or digit)"
        )
    return name


class VoiceStore:
    """The workspace's saved voices."""

    def __init__(self, workspace: Workspace) -> None:
        self.folder = workspace.root / VOICES_DIR
        self.consents = ConsentStore(workspace.root)

    def _path(self, name: str) -> Path:
        return self.folder / f"{check_name(name)}.json"

    def save(self, voice: VoicePreset, *, overwrite: bool = False) -> VoicePreset:
        """Save `voice` under its name; a voice of the same name is replaced only with `overwrite` (else a
        `VoiceExistsError`: a saved voice is never lost by accident). A voice is saved only with a consent
        statement, which is remembered for its clip (`core.ethics.consent`)."""
        check_prompt_text(voice.prompt_text)
        if not overwrite and self._path(voice.name).is_file():
            raise VoiceExistsError(
                f"a voice named {voice.name!r} is already saved; choose another name, or delete that voice "
                "first to replace it"
            )
        if not voice.consent.strip():
            raise VoiceError(
                f"voice {voice.name!r}: a voice is saved only with the speaker's consent; confirm it "
                "(the studio's consent box, or consent=true in POST /v1/audio/voices)"
            )
        self.consents.confirm(voice.ref_audio_path, voice.consent, interface="voices")
        atomic_write_text(self._path(voice.name), json.dumps(asdict(voice), ensure_ascii=False, indent=1))
        return voice

    def get(self, name: str) -> VoicePreset:
        path = self._path(name)
        if not path.is_file():
            saved = ", ".join(v.name for v in self.all()) or "none yet"
            raise VoiceError(f"voice {name!r} is not saved in this studio (saved: {saved}); save it first")
        return VoicePreset(**json.loads(path.read_text(encoding="utf-8")))

    def all(self) -> list[VoicePreset]:
        """Every saved voice, by name."""
        if not self.folder.is_dir():
            return []
        return [
            VoicePreset(**json.loads(p.read_text(encoding="utf-8")))
            for p in sorted(self.folder.glob("*.json"))
        ]

    def using(self, weights: str | Path) -> list[str]:
        """The names of the saved voices that use the weights file `weights` (GPT or SoVITS)."""
        target = Path(weights).resolve()
        uses = [(v.name, {Path(v.gpt_path).resolve(), Path(v.sovits_path).resolve()}) for v in self.all()]
        return [name for name, files in uses if target in files]

    def delete(self, name: str) -> None:
        path = self._path(name)
        if not path.is_file():
            raise VoiceError(f"voice {name!r} is not saved in this studio; nothing to delete")
        path.unlink()


def check_reference_clip(path: str | Path) -> float:
    """The clip's length in seconds if it is audio of a reference clip's length, else a `VoiceError`."""
    try:
        seconds, _, _ = audio_info(path)
    except TimbreError as exc:
        raise VoiceError(f"the clip is not audio Timbre can read ({exc}); choose a WAV, FLAC or MP3") from exc
    if not REF_MIN_SECONDS <= seconds <= REF_MAX_SECONDS:
        raise VoiceError(
            f"the clip is {seconds:.1f} s long; "
            f"a reference clip must be {REF_MIN_SECONDS:g}-{REF_MAX_SECONDS:g} s"
        )
    return seconds


def _relative(path: str, roots: tuple[Path, ...]) -> str:
    real = Path(path).resolve()
    for root in roots:
        root = root.resolve()
        if root in real.parents:
            return real.relative_to(root).as_posix()
    raise VoiceError(
        f"{Path(path).name} is outside the workspace and the pretrained folder; it cannot travel"
    )


def export_voice(voice: VoicePreset, roots: tuple[Path, ...]) -> bytes:
    """`voice` as one zip (`voice.json` + `clip.<ext>`); weights are named relative to the first of `roots`
    (the workspace, then the pretrained folder) that holds them."""
    clip = Path(voice.ref_audio_path)
    if not clip.is_file():
        raise VoiceError(f"voice {voice.name!r}: its clip {clip.name} is gone; save the voice again")
    suffix = clip.suffix.lower().lstrip(".")
    member = f"clip.{suffix}" if _ARCHIVE_CLIP.match(f"clip.{suffix}") else "clip.wav"
    record = {
        "format": ARCHIVE_FORMAT,
        **asdict(voice),
        "ref_audio_path": member,
        "gpt_path": _relative(voice.gpt_path, roots),
        "sovits_path": _relative(voice.sovits_path, roots),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_ARCHIVE_JSON, json.dumps(record, ensure_ascii=False, indent=1))
        archive.write(clip, member)
    return buffer.getvalue()


def import_voice(
    data: bytes,
    workspace: Workspace,
    roots: tuple[Path, ...],
    name: str | None = None,
    max_bytes: int = Settings().max_upload_bytes,
) -> VoicePreset:
    """The voice in an `export_voice` archive, its clip copied into the workspace's uploads/ (not saved yet:
    `VoiceStore.save` it). Refuses anything but `voice.json` and one `clip.<ext>` at the archive's top
    (no folders, `..` or absolute names), JSON that is not a preset, a clip that is not a 3-10 s recording,
    and weights that are not in `roots` here, and files (packed or unpacked) over `max_bytes`. `name`
    renames the voice."""
    if len(data) > max_bytes:
        raise VoiceError(
            f"the voice file is over the upload limit of {max_bytes / 2**20:g} MB (set with --max-upload-mb)"
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise VoiceError(
            f"not a Timbre voice file (not a zip archive); export one with {ARCHIVE_SUFFIX}"
        ) from exc
    with archive:
        members = archive.infolist()
        names = [m.filename for m in members]
        odd = [n for n in names if n != _ARCHIVE_JSON and not _ARCHIVE_CLIP.match(n)]
        clips = [n for n in names if _ARCHIVE_CLIP.match(n)]
        if odd or names.count(_ARCHIVE_JSON) != 1 or len(clips) != 1:
            raise VoiceError(
                f"the voice file holds {', '.join(map(repr, names)) or 'nothing'}; expected exactly "
                f"{_ARCHIVE_JSON!r} and one 'clip.<ext>' (no folders); it was not made by Timbre"
            )
        if sum(m.file_size for m in members) > max_bytes:
            raise VoiceError(
                f"the voice file unpacks to over the upload limit of {max_bytes / 2**20:g} MB "
                "(set with --max-upload-mb); refused"
            )
        record = _read_record(archive.read(_ARCHIVE_JSON))
        clip_bytes = archive.read(clips[0])
    gpt, sovits = (
        _weights_here(record[key], roots, what)
        for key, what in (("gpt_path", "GPT"), ("sovits_path", "SoVITS"))
    )
    with tempfile.TemporaryDirectory() as folder:
        temp = Path(folder) / clips[0]
        temp.write_bytes(clip_bytes)
        check_reference_clip(temp)
        clip = workspace.import_upload(temp)
    return VoicePreset(
        name=check_name(name or record["name"]),
        ref_audio_path=str(clip),
        prompt_text=record["prompt_text"],
        prompt_lang=record["prompt_lang"],
        gpt_path=str(gpt),
        sovits_path=str(sovits),
        consent=record["consent"],
        created_at=float(record["created_at"]),
    )


def _read_record(raw: bytes) -> dict:
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VoiceError(
            f"{_ARCHIVE_JSON} in the voice file is not valid JSON ({exc}); re-export the voice"
        ) from exc
    expected = {f.name for f in fields(VoicePreset)} | {"format"}
    if not isinstance(record, dict) or set(record) != expected:
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise VoiceError(f"{_ARCHIVE_JSON} holds {found}; expected the fields {sorted(expected)}")
    if record["format"] != ARCHIVE_FORMAT:
        raise VoiceError(f"voice file format {record['format']!r}; this Timbre reads format {ARCHIVE_FORMAT}")
    text_fields = ("name", "prompt_text", "prompt_lang", "gpt_path", "sovits_path", "consent")
    wrong = [key for key in text_fields if not isinstance(record[key], str)]
    if wrong or not isinstance(record["created_at"], int | float):
        raise VoiceError(f"{_ARCHIVE_JSON}: {', '.join(wrong) or 'created_at'} has the wrong type")
    return record


def _weights_here(relative: str, roots: tuple[Path, ...], what: str) -> Path:
    if Path(relative).is_absolute():
        raise VoiceError(f"the voice's {what} weights {relative!r} must be relative to a studio folder")
    try:
        return confine(relative, roots, f"the voice's {what} weights")
    except TimbreError as exc:
        raise VoiceError(f"{exc}; copy the same weights into this studio before importing the voice") from exc
