"""The HTTP API, compatible with GPT-SoVITS's `api_v2`: `/tts`, `/set_gpt_weights`, `/set_sovits_weights`,
`/set_refer_audio`, `/control`. Thin over core: every request is a `SynthesisJob` on the studio's queue, every
path a request names is confined to the workspace or the pretrained folder, and errors come back as the
reference's JSON (`{"message": ...}`, plus `"Exception"` when the synthesis itself failed).

    api = StudioApi(settings, workspace, queue)
    app.include_router(api.router)          # app.py adds it to Gradio's own FastAPI app (one port)

Where Timbre differs from the reference, on purpose:
- the "current" weights and reference clip set by the `set_*` routes belong to the caller (its client
  address; every request through the share link is one caller), not to the whole server;
- fields the reference accepts and Timbre ignores are listed by name (`IGNORED_API_V2_FIELDS`); any other
  unknown field is a 422, not silently dropped;
- streamed WAV starts with a header that says "length unknown", so players read it to the end;
  `streaming_mode` 2 and 3 send audio every `min_chunk_length` semantic tokens while the fragment is still
  being read (3: exactly; 2: at the next pause-like token), cross-faded over `overlap_length` tokens
  (`SynthesisRequest.chunk_tokens`); with `pitch` or `speed_factor` set they send whole fragments, as 1;
- `/control` answers only callers on this machine (never a request that came through the share link) or,
  when the studio asks for a login, logged-in callers.

With `credentials` (`--auth`), every route asks for HTTP basic or `Authorization: Bearer <password>`, and a
caller is its user. The OpenAI-compatible routes (`core.api_openai`) are part of `router` too.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import soundfile as sf
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from core import pretrained
from core.audio import audio_info
from core.checkpoints import read_sovits, read_t2s
from core.errors import TimbreError
from core.ethics.consent import ConsentStore
from core.jobs import JobQueue, JobRecord, JobState, SynthesisJob
from core.output import ENCODINGS, FragmentSpool, encode_audio, wav_stream_header
from core.settings import Settings
from core.synthesis import MAX_CHUNK_TOKENS, REF_MAX_SECONDS, SynthesisRequest, knob_fields
from core.text import LANGUAGES, UserDictionary, check_text_length
from core.voices import check_reference_clip
from core.workspace import Workspace, confine

# ----------------------------------------------------------------------------------------------------
# What the API accepts

API_V2_MEDIA_TYPES = ("wav", "raw", "ogg", "aac")
# api_v2's defaults where they differ from `SynthesisRequest`'s (the reference's WebUI and api_v2 disagree).
API_V2_DEFAULTS: dict[str, Any] = {"text_split_method": "cut5"}
# Fields api_v2 takes that Timbre accepts and ignores, with why (they only matter for models Timbre does not
# run).
IGNORED_API_V2_FIELDS: dict[str, tuple[Any, str]] = {
    "sample_steps": (32, "v3/v4 models only"),
    "super_sampling": (False, "v3 models only"),
}
# Languages the reference reads and Timbre does not yet: answered like any unsupported language, with a plan.
NOT_YET_LANGUAGES = ("ja", "ko", "yue", "all_ja", "all_ko", "all_yue", "auto_yue")
STREAMING_MODES = (0, 1, 2, 3)
MAX_CALLERS = 1024  # callers whose "current" weights and clip are remembered (least recently used forgotten)
WAIT_S = 3600.0  # longest a request waits for its job (queue + synthesis) before giving up
_POLL_S = 0.02


class ApiError(TimbreError):
    """A request the API refuses: the status code and the reference's JSON body (`message`, `Exception`)."""

    def __init__(
        self, message: str, status_code: int = 400, exception: str | None = None, *, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.exception = exception
        self.param = param  # the request field at fault, when one is (OpenAI's error names it)

    def response(self) -> JSONResponse:
        content: dict[str, Any] = {"message": str(self)}
        if self.exception is not None:
            content["Exception"] = self.exception
        return JSONResponse(status_code=self.status_code, content=content, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="Timbre"'} if self.status_code == 401 else {}

    def openai_response(self) -> JSONResponse:
        """The same error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""
        message = str(self) if self.exception is None else f"{self} ({self.exception})"
        kind = "invalid_request_error" if self.status_code < 500 else "server_error"
        error = {"message": message, "type": kind, "param": self.param, "code": None}
        return JSONResponse(status_code=self.status_code, content={"error": error}, headers=self._headers())


def knob_field(name: str, default: Any, knob, defaults: dict[str, Any] = API_V2_DEFAULTS) -> tuple[Any, Any]:
    """The pydantic field of one `SynthesisRequest` knob (`knob_fields`), its default taken from `defaults`
    when named there."""
    default = defaults.get(name, default)
    if knob.choices:  # checked by the handler: the reference answers a bad choice with a 400
        return str, Field(default, description=f"{knob.help}; one of {', '.join(knob.choices)}")
    kind: Any = int if knob.integer else float
    bounds = {}
    if math.isfinite(knob.low):
        bounds["ge"] = knob.low
    if math.isfinite(knob.high):
        bounds["le"] = knob.high
    if default is None:
        kind = kind | None
    return kind, Field(default, description=knob.help, **bounds)


def chunk_fields() -> dict[str, Any]:
    """The settings of chunked streaming (modes 2 and 3), as api_v2 names them."""
    return {
        "overlap_length": (
            int,
            Field(
                2, ge=0, le=MAX_CHUNK_TOKENS, description="streaming_mode 2/3: tokens cross-faded at a cut"
            ),
        ),
        "min_chunk_length": (
            int,
            Field(
                16,
                ge=1,
                le=MAX_CHUNK_TOKENS,
                description="streaming_mode 2/3: semantic tokens per chunk (25/s)",
            ),
        ),
    }


def chunk_settings(mode: int, req: dict[str, Any]) -> dict[str, Any]:
    """`SynthesisRequest`'s chunking fields for streaming `mode` and a request holding `chunk_fields`."""
    return {
        "chunk_tokens": req["min_chunk_length"] if mode in (2, 3) else 0,
        "chunk_at_pauses": mode == 2,
        "chunk_overlap_tokens": req["overlap_length"],
    }


class _TtsBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("streaming_mode", mode="before", check_fields=False)
    @classmethod
    def _streaming_mode(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value


def _tts_model() -> type[BaseModel]:
    """The `/tts` parameters: api_v2's fields and defaults, every tunable `SynthesisRequest` knob (from
    `knob_fields`, so `noise_scale`, `max_sec`, `pitch`... come for free), and the per-request weights."""
    fields: dict[str, Any] = {
        "text": (str | None, Field(None, description="text to read (required)")),
        "text_lang": (str | None, Field(None, description=f"language of the text: {', '.join(LANGUAGES)}")),
        "ref_audio_path": (
            str | None,
            Field(
                None,
                description="reference clip (3-10 s) inside the workspace or pretrained folder; "
                "default: the one set with /set_refer_audio",
            ),
        ),
        "aux_ref_audio_paths": (list[str] | None, Field(None, description="extra clips for the timbre")),
        "prompt_text": (str, Field("", description="transcript of the reference clip (empty: no prompt)")),
        "prompt_lang": (str | None, Field(None, description="language of prompt_text (required)")),
    }
    for name, default, knob in knob_fields():
        fields[name] = knob_field(name, default, knob)
    fields["split_bucket"] = (bool, Field(True, description="batch fragments of similar length together"))
    fields["parallel_infer"] = (bool, Field(True, description="decode a batch in parallel"))
    fields["media_type"] = (str, Field("wav", description=f"one of {', '.join(API_V2_MEDIA_TYPES)}"))
    fields["streaming_mode"] = (
        bool | int,
        Field(
            False,
            description="0/false: whole file; 1/true: fragments as they finish; 2: chunks cut at pauses "
            "while a fragment is read; 3: fixed-length chunks (fastest first audio)",
        ),
    )
    fields.update(chunk_fields())
    for name, (default, why) in IGNORED_API_V2_FIELDS.items():
        fields[name] = (type(default), Field(default, description=f"accepted and ignored: {why}"))
    fields["gpt_weights_path"] = (
        str | None,
        Field(None, description="GPT weights for this request only (default: /set_gpt_weights's)"),
    )
    fields["sovits_weights_path"] = (
        str | None,
        Field(None, description="SoVITS weights for this request only (default: /set_sovits_weights's)"),
    )
    return create_model("TtsRequest", __base__=_TtsBase, **fields)


TtsRequest = _tts_model()


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str | None = Field(None, description="restart or exit")


def _read_by(path: Path, read: Callable[[Path], object]) -> Path:
    """`path`, once `read` has read it without an error (GPT or SoVITS weights, a reference clip)."""
    read(path)
    return path


# ----------------------------------------------------------------------------------------------------
# Who is asking

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-real-ip")
SHARE_CALLER = "share-link"


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def through_proxy(request: Request) -> bool:
    """Whether the request came through a proxy, such as Gradio's share link: its tunnel connects from this
    machine but keeps the public host name (`xyz.gradio.live`) and adds forwarding headers."""
    if any(name in request.headers for name in _FORWARDING_HEADERS):
        return True
    client = request.client.host if request.client else ""
    return _is_loopback(client) and not _is_loopback(_host_name(request.headers.get("host", "")))


def is_local(request: Request) -> bool:
    """A caller on this machine talking to the server directly (never one through the share link)."""
    client = request.client.host if request.client else ""
    return _is_loopback(client) and not through_proxy(request)


def authenticated_user(request: Request) -> str | None:
    """The user a request logged in as (None when the studio asks for no login)."""
    return getattr(request.state, "timbre_user", None)


def caller_key(request: Request) -> str:
    """Whose "current" weights and clip a request uses: its user when logged in, else its client address
    (all share-link callers are one)."""
    if (user := authenticated_user(request)) is not None:
        return f"user:{user}"
    if through_proxy(request):
        return SHARE_CALLER
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class CallerVoice:
    """The weights and reference clip a caller chose with the `set_*` routes (None: the defaults)."""

    gpt_path: Path | None = None
    sovits_path: Path | None = None
    ref_audio_path: Path | None = None


# ----------------------------------------------------------------------------------------------------
# Reference-shaped validation errors


def check_credentials(authorization: str, credentials: Mapping[str, str]) -> str | None:
    """The user an `Authorization` header proves (HTTP basic `user:password`, or `Bearer <password>` as an
    API key, or `Bearer user:password`), else None. Compared in constant time."""
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
    elif scheme.lower() != "bearer":
        return None
    user, sep, password = value.partition(":")
    if sep and user in credentials:
        return user if hmac.compare_digest(credentials[user].encode(), password.encode()) else None
    if scheme.lower() == "basic":
        return None
    found = None
    for name, secret in credentials.items():  # a bare bearer key is a user's password
        if hmac.compare_digest(secret.encode(), value.encode()) and found is None:
            found = name
    return found


def invalid_json_message(error: dict) -> str:
    """What to say for FastAPI's `json_invalid` error (its `loc` is (body, character offset))."""
    offset = ".".join(str(p) for p in error.get("loc", ())[1:]) or "?"
    reason = (error.get("ctx") or {}).get("error", "invalid JSON")
    return f"the request body is not valid JSON ({reason} at character {offset}); send one JSON object"


def _validation_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        name = ".".join(str(p) for p in error.get("loc", ())[1:]) or "request"
        if error.get("type") == "extra_forbidden":
            known = ", ".join(TtsRequest.model_fields)
            parts.append(f"{name} is not a parameter Timbre knows; use: {known}")
        elif error.get("type") == "json_invalid":
            parts.append(invalid_json_message(error))
        else:
            parts.append(f"{name}: {error.get('msg', 'invalid')} (got {error.get('input')!r})")
    return "; ".join(parts)


class _ApiRoute(APIRoute):
    """A route whose validation failures come back as `{"message": ..., "detail": [...]}` (422): the
    reference's `message` sentence for its clients, FastAPI's `detail` list for FastAPI clients."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:  # from a dependency (the login check)
                return exc.response()
            except RequestValidationError as exc:
                errors = list(exc.errors())
                return JSONResponse(
                    status_code=422,
                    content={"message": _validation_message(errors), "detail": jsonable_encoder(errors)},
                )

        return handle


# ----------------------------------------------------------------------------------------------------
# The routes


class StudioApi:
    """The api_v2-compatible routes over one workspace and queue. `control` maps `/control` commands
    (`restart`, `exit`) to what the app does for them; without it, `/control` says it is unavailable."""

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        queue: JobQueue,
        *,
        control: Mapping[str, Callable[[], None]] | None = None,
        credentials: Mapping[str, str] | None = None,
        wait_s: float = WAIT_S,
        consent_statement: str | None = None,
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.queue = queue
        self.control = dict(control or {})
        self.credentials = dict(credentials or {})  # user -> password; empty: no login asked
        self.wait_s = wait_s
        self.consent_statement = consent_statement  # the operator's, for clips nobody confirmed
        self.roots = (workspace.root, Path(settings.pretrained_dir).expanduser().resolve())
        self._callers: OrderedDict[str, CallerVoice] = OrderedDict()
        self._lock = threading.Lock()
        self.router = self._build_router()

    def authenticate(self, request: Request) -> None:
        """The login check every route depends on (nothing to check when the studio asks for no login)."""
        if not self.credentials:
            return
        user = check_credentials(request.headers.get("authorization", ""), self.credentials)
        if user is None:
            raise ApiError(
                "log in first: send HTTP basic credentials (user:password) or "
                "'Authorization: Bearer <password>'",
                401,
            )
        request.state.timbre_user = user

    # -- callers' choices ----------------------------------------------------------------------------------

    def voice_of(self, caller: str) -> CallerVoice:
        with self._lock:
            voice = self._callers.get(caller, CallerVoice())
            if caller in self._callers:
                self._callers.move_to_end(caller)
            return voice

    def _set_voice(self, caller: str, **changes: Path) -> None:
        with self._lock:
            self._callers[caller] = replace(self._callers.get(caller, CallerVoice()), **changes)
            self._callers.move_to_end(caller)
            while len(self._callers) > MAX_CALLERS:
                self._callers.popitem(last=False)

    def default_weights(self) -> tuple[Path, Path]:
        paths = pretrained.model_paths(self.roots[1])
        return paths.t2s, paths.sovits

    # -- checking what a request names -----------------------------------------------------------------

    def confine(self, path: str, what: str) -> Path:
        """`core.workspace.confine` to the workspace and the pretrained folder; the message names them
        without the server's absolute paths (a caller through the share link need not learn them)."""
        try:
            return confine(path, self.roots, what)
        except TimbreError as exc:
            raise ApiError(self.public(str(exc))) from exc

    def public(self, message: str) -> str:
        """`message` with the server's folders named, not spelled out (a caller through the share link need
        not learn them)."""
        message = message.replace(str(self.roots[0]), "the workspace")
        return message.replace(str(self.roots[1]), "the pretrained folder")

    def weights(self, path: str, what: str, suffix: str) -> Path:
        found = self.confine(path, what)
        if found.suffix.lower() != suffix:
            raise ApiError(
                f"{what} {path!r} is not a {suffix} file; GPT weights end in .ckpt, SoVITS in .pth"
            )
        return found

    def clip(self, path: str, what: str, max_seconds: float, flag: str = "") -> Path:
        """The confined audio file `path` names, at most `max_seconds` long (`flag`: the option that sets
        that limit, named in the refusal)."""
        found = self.confine(path, what)
        try:
            seconds, _, _ = audio_info(found)
        except TimbreError as exc:
            raise ApiError(f"{what} {path!r} is not audio Timbre can read: {exc}") from exc
        if seconds > max_seconds:
            limit = f"the studio's limit, set with {flag}" if flag else "the limit"
            raise ApiError(
                f"{what} {path!r} is {seconds:.1f} s long; use a clip of at most {max_seconds:g} s ({limit})"
            )
        return found

    def user_dictionary(self) -> UserDictionary:
        path = self.workspace.userdict_path
        return UserDictionary.load(path) if path.exists() else UserDictionary()

    def consent_for(self, clips: tuple[Path, ...]) -> str:
        """The consent statement a generation with `clips` runs under: the one confirmed for its voice, or
        the operator's `--consent-statement` when any clip is new; `ApiError` (403) when there is none."""
        store = ConsentStore(self.workspace.root)
        confirmed = [store.statement(clip) for clip in clips]
        if all(confirmed):
            return str(confirmed[0])
        if self.consent_statement:
            return self.consent_statement
        raise ApiError(
            "no one has confirmed the speaker's consent for this reference clip; confirm it in the studio "
            "(a first generation with the clip in the Synthesize tab), save it as a voice with consent=true "
            "(POST /v1/audio/voices), or start the studio with --consent-statement TEXT to run api_v2 "
            "requests with new clips under your statement",
            403,
        )

    def job_for(
        self, params: BaseModel, caller: str, user: str | None = None
    ) -> tuple[SynthesisJob, str, int]:
        """The job a `/tts` request describes, its media type and streaming mode; `ApiError` when refused
        (checks in the reference's order, with its messages where it has one)."""
        voice = self.voice_of(caller)
        req = params.model_dump()
        if not req["ref_audio_path"] and voice.ref_audio_path is None:
            raise ApiError("ref_audio_path is required")
        if not req["text"]:
            raise ApiError("text is required")
        for name in ("text_lang", "prompt_lang"):
            lang = (req[name] or "").lower()
            if not lang:
                raise ApiError(f"{name} is required")
            if lang in NOT_YET_LANGUAGES:
                raise ApiError(
                    f"{name}: {lang} is not supported yet by Timbre (Japanese, Korean and Cantonese are "
                    f"planned); use one of {', '.join(LANGUAGES)}"
                )
            if lang not in LANGUAGES:
                raise ApiError(
                    f"{name}: {lang} is not supported in version v2; use one of {', '.join(LANGUAGES)}"
                )
            req[name] = lang
        media_type = req["media_type"]
        if media_type not in API_V2_MEDIA_TYPES:
            raise ApiError(
                f"media_type: {media_type} is not supported; use one of {', '.join(API_V2_MEDIA_TYPES)}"
            )
        mode = req["streaming_mode"]
        mode = int(mode) if isinstance(mode, bool) else mode
        if mode not in STREAMING_MODES:
            raise ApiError("the value of streaming_mode must be 0, 1, 2, 3(int) or true/false(bool)")
        for name, _, knob in knob_fields():
            if knob.choices and req[name] not in knob.choices:
                raise ApiError(f"{name}:{req[name]} is not supported; use one of {', '.join(knob.choices)}")
        try:
            check_text_length(req["text"], self.settings.max_text_chars)
        except TimbreError as exc:
            raise ApiError(str(exc)) from exc

        # The caller's saved choices are checked again: the files may have changed (or become links) since.
        default_gpt, default_sovits = self.default_weights()
        gpt = self.weights(
            req["gpt_weights_path"] or str(voice.gpt_path or default_gpt), "gpt_weights_path", ".ckpt"
        )
        sovits = self.weights(
            req["sovits_weights_path"] or str(voice.sovits_path or default_sovits),
            "sovits_weights_path",
            ".pth",
        )
        ref = self.clip(req["ref_audio_path"] or str(voice.ref_audio_path), "ref_audio_path", REF_MAX_SECONDS)
        aux = tuple(
            str(self.clip(p, "aux_ref_audio_paths", self.settings.max_aux_ref_seconds, "--max-aux-seconds"))
            for p in req["aux_ref_audio_paths"] or ()
        )
        knobs = {name: req[name] for name, _, _ in knob_fields()}
        try:
            request = SynthesisRequest(
                text=req["text"],
                text_lang=req["text_lang"],
                ref_audio_path=str(ref),
                aux_ref_audio_paths=aux,
                prompt_text=req["prompt_text"] or "",
                prompt_lang=req["prompt_lang"],
                split_bucket=req["split_bucket"],
                parallel_infer=req["parallel_infer"],
                user_dict=self.user_dictionary(),
                **chunk_settings(mode, req),
                **knobs,
            )
        except TimbreError as exc:
            raise ApiError(str(exc)) from exc
        consent = self.consent_for((ref, *map(Path, aux)))
        job = SynthesisJob(
            request,
            str(gpt),
            str(sovits),
            interface="api",
            name="api",
            stream=mode != 0,
            user=user,
            consent=consent,
        )
        return job, media_type, mode

    # -- running ------------------------------------------------------------------------------------------

    def _failed(self, record: JobRecord) -> ApiError:
        return ApiError("tts failed", 400, record.error or f"the job was {record.state}")

    def tts(self, params: BaseModel, request: Request) -> Response:
        return self.respond(*self.job_for(params, caller_key(request), authenticated_user(request)))

    def respond(self, job: SynthesisJob, media_type: str, mode: int) -> Response:
        """Queue `job` and answer with its audio as `media_type` (a key of `ENCODINGS`): the whole file when
        `mode` is 0, else a stream of its pieces (fragments, or chunks in modes 2 and 3) as they come (WAV:
        one header, then raw samples)."""
        record = self.queue.submit(job)
        headers = {"X-Timbre-Job": record.id}
        if mode == 0:
            record = self._wait(record.id)
            if record.state is not JobState.DONE or record.result is None:
                raise self._failed(record)
            audio, sample_rate = sf.read(record.result.files[0], dtype="int16")
            body = encode_audio(audio, int(sample_rate), media_type)
            return Response(body, media_type=ENCODINGS[media_type][0], headers=headers)
        spool = FragmentSpool(self.workspace, record.id)
        first = self._first_fragment(record.id, spool)  # errors before any audio still get a 400
        return StreamingResponse(
            self._stream(record.id, spool, first, media_type),
            media_type=ENCODINGS[media_type][0],
            headers=headers,
        )

    def _wait(self, job_id: str) -> JobRecord:
        try:
            return self.queue.wait(job_id, timeout=self.wait_s)
        except TimeoutError as exc:
            self.queue.cancel(job_id)
            raise ApiError(
                "tts failed", 504, f"no result within {self.wait_s:.0f} s (is a worker running?)"
            ) from exc

    def _first_fragment(self, job_id: str, spool: FragmentSpool) -> tuple[np.ndarray, int]:
        deadline = time.monotonic() + self.wait_s
        while True:
            piece = spool.take(0)
            if piece is not None:
                return piece
            record = self.queue.get(job_id)
            if record.state.finished:
                piece = spool.take(0)
                if piece is not None:
                    return piece
                spool.remove()
                raise self._failed(record)
            if time.monotonic() > deadline:
                self.queue.cancel(job_id)
                spool.remove()
                raise ApiError(
                    "tts failed", 504, f"no audio within {self.wait_s:.0f} s (is a worker running?)"
                )
            time.sleep(_POLL_S)

    def _stream(
        self, job_id: str, spool: FragmentSpool, first: tuple[np.ndarray, int], media_type: str
    ) -> Iterator[bytes]:
        audio, sample_rate = first
        index = 0
        try:
            if media_type == "wav":
                yield wav_stream_header(sample_rate)
                media_type = "raw"
            while True:
                yield encode_audio(audio, sample_rate, media_type)
                index += 1
                while (piece := spool.take(index)) is None:
                    if self.queue.get(job_id).state.finished:
                        piece = spool.take(index)  # written just before the job finished
                        break
                    time.sleep(_POLL_S)
                if piece is None:
                    return
                audio, sample_rate = piece
        finally:  # done, or the client went away: stop the job if it still runs, forget the fragments
            if not self.queue.get(job_id).state.finished:
                self.queue.cancel(job_id)
            spool.remove()

    def openapi_schema(self) -> dict[str, Any]:
        """The OpenAPI document of these routes alone (for `/docs`; Gradio's own routes are not the API)."""
        return get_openapi(
            title="Timbre API",
            version="1",
            description="GPT-SoVITS api_v2-compatible text to speech. Paths are relative to the workspace "
            '(or the pretrained folder); errors are `{"message": ...}`.',
            routes=self.router.routes,
        )

    # -- the router ---------------------------------------------------------------------------------------

    def _build_router(self) -> APIRouter:
        from core.api_openai import build_router  # it builds on this module's checks

        router = APIRouter(route_class=_ApiRoute, tags=["api_v2"], dependencies=[Depends(self.authenticate)])

        def answer(run: Callable[[], Response]) -> Response:
            try:
                return run()
            except ApiError as exc:
                return exc.response()

        @router.get("/tts", summary="Read text aloud (api_v2)", response_class=Response)
        def tts_get(params: Annotated[TtsRequest, Query()], request: Request) -> Response:  # type: ignore[valid-type]
            return answer(lambda: self.tts(params, request))

        @router.post("/tts", summary="Read text aloud (api_v2)", response_class=Response)
        def tts_post(params: TtsRequest, request: Request) -> Response:  # type: ignore[valid-type]
            return answer(lambda: self.tts(params, request))

        def setter(field: str, what: str, check: Callable[[str], Path], missing: str, failed: str):
            def set_path(request: Request, value: str | None) -> Response:
                if not value:
                    return ApiError(missing).response()
                try:
                    path = check(value)
                except ApiError as exc:
                    return ApiError(failed, 400, str(exc)).response()
                except TimbreError as exc:  # what the file holds (refused now, as the reference does)
                    return ApiError(failed, 400, self.public(str(exc))).response()
                self._set_voice(caller_key(request), **{field: path})
                return JSONResponse({"message": "success"})

            return set_path

        set_gpt = setter(
            "gpt_path",
            "weights_path",
            lambda p: _read_by(self.weights(p, "weights_path", ".ckpt"), read_t2s),
            "gpt weight path is required",
            "change gpt weight failed",
        )
        set_sovits = setter(
            "sovits_path",
            "weights_path",
            lambda p: _read_by(self.weights(p, "weights_path", ".pth"), read_sovits),
            "sovits weight path is required",
            "change sovits weight failed",
        )
        set_ref = setter(
            "ref_audio_path",
            "refer_audio_path",
            lambda p: _read_by(self.clip(p, "refer_audio_path", REF_MAX_SECONDS), check_reference_clip),
            "refer_audio_path is required",
            "set refer audio failed",
        )

        @router.get("/set_gpt_weights", summary="Choose your GPT weights (api_v2)")
        def set_gpt_weights(request: Request, weights_path: str | None = None) -> Response:
            return set_gpt(request, weights_path)

        @router.get("/set_sovits_weights", summary="Choose your SoVITS weights (api_v2)")
        def set_sovits_weights(request: Request, weights_path: str | None = None) -> Response:
            return set_sovits(request, weights_path)

        @router.get("/set_refer_audio", summary="Choose your reference clip (api_v2)")
        def set_refer_audio(request: Request, refer_audio_path: str | None = None) -> Response:
            return set_ref(request, refer_audio_path)

        def control(request: Request, command: str | None, tasks: BackgroundTasks) -> Response:
            if not (is_local(request) or authenticated_user(request) is not None):
                return ApiError(
                    "/control only answers callers on this machine (never through the share link) or "
                    "logged-in callers; run the command where the studio runs, or start it with --auth",
                    403,
                ).response()
            if not command:
                return ApiError("command is required").response()
            if command not in ("restart", "exit"):
                return ApiError(f"command {command!r} is unknown; use restart or exit").response()
            action = self.control.get(command)
            if action is None:
                return ApiError(f"{command} is not available in this process").response()
            tasks.add_task(action)  # after the reply has gone out
            return JSONResponse({"message": f"{command} requested"})

        @router.get("/control", summary="Restart or stop the studio (this machine only; api_v2)")
        def control_get(request: Request, tasks: BackgroundTasks, command: str | None = None) -> Response:
            return control(request, command, tasks)

        @router.post("/control", summary="Restart or stop the studio (this machine only; api_v2)")
        def control_post(request: Request, body: ControlRequest, tasks: BackgroundTasks) -> Response:
            return control(request, body.command, tasks)

        router.include_router(build_router(self))
        return router
