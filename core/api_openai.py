"""OpenAI-compatible routes: `POST /v1/audio/speech`, `GET /v1/models`, and saved voices
(`POST/GET /v1/audio/voices`, `GET/DELETE /v1/audio/voices/{name}`, and as one file: `GET
/v1/audio/voices/{name}/export`, `POST /v1/audio/voices/import`), over the same queue and checks as the
api_v2 routes (`core.api.StudioApi`). A `voice` is a preset saved in the workspace (`core.voices`); its file
is the one the Synthesize tab exports and imports.
Errors come back in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so its clients raise
their usual exceptions.
"""

from __future__ import annotations

import tempfile
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, create_model

from core.api import (
    ApiError,
    authenticated_user,
    caller_key,
    chunk_fields,
    chunk_settings,
    invalid_json_message,
    knob_field,
)
from core.audio import audio_info
from core.errors import TimbreError
from core.jobs import SynthesisJob
from core.synthesis import REF_MAX_SECONDS, REF_MIN_SECONDS, SynthesisRequest, knob_fields
from core.text import LANGUAGES, check_text_length
from core.voices import (
    ARCHIVE_SUFFIX,
    VoiceExistsError,
    VoicePreset,
    VoiceStore,
    check_name,
    export_voice,
    import_voice,
)

if TYPE_CHECKING:
    from core.api import StudioApi

MODEL_ID = "timbre"
# OpenAI's model names, accepted as aliases so clients written for OpenAI work unchanged.
MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
RESPONSE_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
# Formats whose fragments can be sent one after another as they finish (the others come whole).
STREAMED_FORMATS = ("mp3", "aac", "wav", "pcm")
IGNORED_OPENAI_FIELDS = {"instructions": "a saved voice reads in its reference clip's manner"}
# What `consent=true` records (any other non-empty text is recorded as the caller's own statement).
API_CONSENT = "The API caller confirmed having the speaker's consent to clone this voice (consent=true)"
_NO = ("", "false", "0", "no", "off")


def consent_statement(value: str) -> str:
    """The statement `consent` records: `true` (or 1, yes) records `API_CONSENT`, other text itself;
    empty or false is refused (`ApiError`)."""
    text = value.strip()
    if text.lower() in _NO:
        raise ApiError(
            "consent: send consent=true to confirm that you have the speaker's consent to clone this voice "
            "(Timbre saves no voice without it)",
            param="consent",
        )
    return API_CONSENT if text.lower() in ("true", "1", "yes", "on") else text


def _speech_model() -> type[BaseModel]:
    """OpenAI's speech request, plus Timbre's knobs (`speed` is OpenAI's name for `speed_factor`)."""
    fields: dict[str, Any] = {
        "model": (str, Field(..., description=f"{MODEL_ID} (or {', '.join(MODEL_ALIASES)})")),
        "input": (str, Field(..., description="text to read")),
        "voice": (str | dict[str, str], Field(..., description='a saved voice\'s name, or {"id": name}')),
        "instructions": (str | None, Field(None, description="accepted and ignored")),
        "response_format": (str, Field("mp3", description=", ".join(RESPONSE_FORMATS))),
        "speed": (float, Field(1.0, ge=0.25, le=4.0, description="speaking rate")),
        "stream_format": (str, Field("audio", description="audio (sse is not offered)")),
        "text_lang": (str, Field("auto", description=f"language of input: {', '.join(LANGUAGES)}")),
    }
    fields["streaming_mode"] = (
        int,
        Field(
            1,
            ge=1,
            le=3,
            description=f"how {', '.join(STREAMED_FORMATS)} stream: 1 fragments as they finish; 2 chunks cut "
            "at pauses while a fragment is read; 3 fixed-length chunks (fastest first audio, lower quality)",
        ),
    )
    fields.update(chunk_fields())
    for name, default, knob in knob_fields():
        if name != "speed_factor":
            fields[name] = knob_field(name, default, knob, defaults={})
    return create_model("SpeechRequest", __config__=ConfigDict(extra="forbid"), **fields)


SpeechRequest = _speech_model()


class _OpenAIRoute(APIRoute):
    """Validation failures as OpenAI answers them: 400 with `{"error": {...}}`."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ApiError as exc:  # from a dependency (the login check)
                return exc.openai_response()
            except RequestValidationError as exc:
                error = exc.errors()[0] if exc.errors() else {}
                param = ".".join(str(p) for p in error.get("loc", ())[1:]) or None
                if error.get("type") == "extra_forbidden":
                    message = f"{param} is not a parameter Timbre knows"
                elif error.get("type") == "json_invalid":
                    message, param = invalid_json_message(error), None
                else:
                    message = f"{param}: {error.get('msg', 'invalid')}"
                return ApiError(message, 400, param=param).openai_response()

        return handle


def _name_taken(exc: VoiceExistsError) -> ApiError:
    """The 409 for saving or importing a voice under a name already saved (both routes take `overwrite`)."""
    return ApiError(f"{exc} (or send overwrite=true)", 409, param="name")


def _voice_json(voice: VoicePreset) -> dict[str, Any]:
    return {
        "id": voice.name,
        "object": "voice",
        "name": voice.name,
        "language": voice.prompt_lang,
        "text": voice.prompt_text,
        "created_at": int(voice.created_at),
    }


def _check_language(lang: str, param: str) -> str:
    if lang not in LANGUAGES:
        raise ApiError(f"{param} {lang!r} is not supported; use one of {', '.join(LANGUAGES)}", param=param)
    return lang


def build_router(api: StudioApi) -> APIRouter:
    """The OpenAI-compatible routes over `api`'s workspace, queue and checks."""
    store = VoiceStore(api.workspace)
    router = APIRouter(
        route_class=_OpenAIRoute, tags=["OpenAI-compatible"], dependencies=[Depends(api.authenticate)]
    )

    def answer(run: Callable[[], Response]) -> Response:
        try:
            return run()
        except ApiError as exc:
            return exc.openai_response()
        except TimbreError as exc:
            return ApiError(str(exc)).openai_response()

    def preset(name: str, param: str = "voice", status: int = 400) -> VoicePreset:
        try:
            return store.get(name)
        except TimbreError as exc:
            raise ApiError(str(exc), status, param=param) from exc

    def speech(params: BaseModel, user: str | None) -> Response:
        req = params.model_dump()
        if req["model"] not in (MODEL_ID, *MODEL_ALIASES):
            raise ApiError(f"model {req['model']!r} does not exist here; use {MODEL_ID}", 404, param="model")
        voice = preset(req["voice"]["id"] if isinstance(req["voice"], dict) else req["voice"])
        if not voice.consent.strip():  # saved before consent was required
            raise ApiError(
                f"voice {voice.name!r} was saved without the speaker's consent; "
                "save it again with consent=true",
                403,
                param="voice",
            )
        fmt = req["response_format"]
        if fmt not in RESPONSE_FORMATS:
            raise ApiError(
                f"response_format {fmt!r}: use one of {', '.join(RESPONSE_FORMATS)}", param="response_format"
            )
        if req["stream_format"] != "audio":
            raise ApiError("stream_format: only 'audio' is offered (no sse)", param="stream_format")
        if not req["input"].strip():
            raise ApiError("input is empty; give the text to read", param="input")
        try:
            check_text_length(req["input"], api.settings.max_text_chars)
        except TimbreError as exc:
            raise ApiError(str(exc), param="input") from exc
        for name, _, knob in knob_fields():
            if knob.choices and name in req and req[name] not in knob.choices:
                raise ApiError(f"{name} {req[name]!r}: use one of {', '.join(knob.choices)}", param=name)
        # The preset's files are checked again: they must still be inside the workspace or pretrained folder.
        ref = api.clip(voice.ref_audio_path, "the voice's reference clip", REF_MAX_SECONDS)
        gpt = api.weights(voice.gpt_path, "the voice's GPT weights", ".ckpt")
        sovits = api.weights(voice.sovits_path, "the voice's SoVITS weights", ".pth")
        knobs = {name: req[name] for name, _, _ in knob_fields() if name in req}
        streamed = fmt in STREAMED_FORMATS
        mode = req["streaming_mode"] if streamed else 0
        try:
            request = SynthesisRequest(
                text=req["input"],
                text_lang=_check_language(req["text_lang"], "text_lang"),
                ref_audio_path=str(ref),
                prompt_text=voice.prompt_text,
                prompt_lang=voice.prompt_lang,
                speed_factor=req["speed"],
                user_dict=api.user_dictionary(),
                **chunk_settings(mode, req),
                **knobs,
            )
        except TimbreError as exc:
            raise ApiError(str(exc)) from exc
        job = SynthesisJob(
            request,
            str(gpt),
            str(sovits),
            interface="api",
            name=voice.name,
            stream=streamed,
            user=user,
            consent=voice.consent,
        )
        return api.respond(job, fmt, mode)

    @router.post(
        "/v1/audio/speech", summary="Read text aloud in a saved voice (OpenAI)", response_class=Response
    )
    def create_speech(params: SpeechRequest, request: Request) -> Response:  # type: ignore[valid-type]
        return answer(lambda: speech(params, authenticated_user(request)))

    @router.get("/v1/models", summary="The models (OpenAI)")
    def list_models() -> Response:
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "timbre"} for name in (MODEL_ID,)]
        return JSONResponse({"object": "list", "data": data})

    @router.get("/v1/audio/voices", summary="The saved voices")
    def list_voices() -> Response:
        return JSONResponse({"object": "list", "data": [_voice_json(v) for v in store.all()]})

    @router.get("/v1/audio/voices/{name}", summary="One saved voice")
    def get_voice(name: str) -> Response:
        return answer(lambda: JSONResponse(_voice_json(preset(name, "name", 404))))

    @router.delete("/v1/audio/voices/{name}", summary="Delete a saved voice (its clip stays in uploads/)")
    def delete_voice(name: str) -> Response:
        def run() -> Response:
            preset(name, "name", 404)
            store.delete(name)
            return JSONResponse({"id": name, "object": "voice", "deleted": True})

        return answer(run)

    @router.post("/v1/audio/voices", summary="Save a voice from a reference clip", status_code=201)
    def create_voice(
        request: Request,
        name: Annotated[str, Form(description="the voice's name (letters, digits, _ and -)")],
        file: Annotated[UploadFile, File(description=f"a {REF_MIN_SECONDS:g}-{REF_MAX_SECONDS:g} s clip")],
        text: Annotated[str, Form(description="what the clip says (empty: timbre only)")] = "",
        language: Annotated[str, Form(description=f"language of text: {', '.join(LANGUAGES)}")] = "zh",
        gpt_weights_path: Annotated[str | None, Form(description="default: your current GPT weights")] = None,
        sovits_weights_path: Annotated[str | None, Form(description="default: your current SoVITS")] = None,
        consent: Annotated[
            str, Form(description="true: you have the speaker's consent (or your own statement); required")
        ] = "",
        overwrite: Annotated[bool, Form(description="replace a saved voice of the same name")] = False,
    ) -> Response:
        def run() -> Response:
            try:
                check_name(name)
            except TimbreError as exc:
                raise ApiError(str(exc), param="name") from exc
            _check_language(language, "language")
            current = api.voice_of(caller_key(request))
            default_gpt, default_sovits = api.default_weights()
            gpt = (
                api.weights(gpt_weights_path, "gpt_weights_path", ".ckpt")
                if gpt_weights_path
                else current.gpt_path or default_gpt
            )
            sovits = (
                api.weights(sovits_weights_path, "sovits_weights_path", ".pth")
                if sovits_weights_path
                else current.sovits_path or default_sovits
            )
            clip = _import_clip(api, file)
            statement = consent_statement(consent)  # after the file's checks: their errors come first
            voice = VoicePreset(name, str(clip), text, language, str(gpt), str(sovits), statement)
            try:
                saved = store.save(voice, overwrite=overwrite)
            except VoiceExistsError as exc:
                raise _name_taken(exc) from exc
            return JSONResponse(_voice_json(saved), status_code=201)

        return answer(run)

    @router.get(
        "/v1/audio/voices/{name}/export",
        summary=f"A saved voice as one file ({ARCHIVE_SUFFIX}: its clip and settings, not its weights)",
        response_class=Response,
    )
    def export_voice_file(name: str) -> Response:
        def run() -> Response:
            voice = preset(name, "name", 404)
            try:
                data = export_voice(voice, api.roots)
            except TimbreError as exc:
                raise ApiError(api.public(str(exc)), param="name") from exc
            quoted = urllib.parse.quote(name + ARCHIVE_SUFFIX)
            disposition = f"attachment; filename=\"voice{ARCHIVE_SUFFIX}\"; filename*=UTF-8''{quoted}"
            return Response(data, media_type="application/zip", headers={"Content-Disposition": disposition})

        return answer(run)

    @router.post(
        "/v1/audio/voices/import", summary="Save a voice from an exported voice file", status_code=201
    )
    def import_voice_file(
        file: Annotated[UploadFile, File(description=f"a {ARCHIVE_SUFFIX} file (as exported)")],
        name: Annotated[str | None, Form(description="save it under this name (default: its own)")] = None,
        overwrite: Annotated[bool, Form(description="replace a saved voice of the same name")] = False,
    ) -> Response:
        def run() -> Response:
            limit = api.settings.max_upload_bytes
            data = _read_upload(file, limit, f"a voice file exported by Timbre ({ARCHIVE_SUFFIX})")
            try:
                voice = import_voice(data, api.workspace, api.roots, name or None, max_bytes=limit)
                saved = store.save(voice, overwrite=overwrite)
            except VoiceExistsError as exc:
                raise _name_taken(exc) from exc
            except TimbreError as exc:
                raise ApiError(api.public(str(exc)), param="file") from exc
            return JSONResponse(_voice_json(saved), status_code=201)

        return answer(run)

    return router


def _read_upload(upload: UploadFile, limit: int, wanted: str) -> bytes:
    """The bytes of the multipart field `file`; `ApiError` when it is empty (400) or over `limit` bytes
    (413, naming the limit and the option that sets it)."""
    data = upload.file.read(limit + 1)
    if not data:
        raise ApiError(f"file is empty (0 bytes); upload {wanted}", param="file")
    if len(data) > limit:
        raise ApiError(
            f"file is over the studio's upload limit of {limit / 2**20:g} MB (set with --max-upload-mb); "
            f"upload {wanted}",
            413,
            param="file",
        )
    return data


def _import_clip(api: StudioApi, upload: UploadFile) -> Path:
    """Check an uploaded reference clip (not empty, not too big, audio, 3-10 s) and copy it into uploads/."""
    data = _read_upload(upload, api.settings.max_upload_bytes, "a 3-10 s recording")
    suffix = "".join(c for c in Path(upload.filename or "clip.wav").suffix.lower() if c.isalnum() or c == ".")
    with tempfile.TemporaryDirectory() as folder:
        temp = Path(folder) / f"upload{suffix[:10] or '.wav'}"
        temp.write_bytes(data)
        try:
            seconds, _, _ = audio_info(temp)
        except TimbreError as exc:
            raise ApiError(f"file is not audio Timbre can read ({exc})", param="file") from exc
        if not REF_MIN_SECONDS <= seconds <= REF_MAX_SECONDS:
            raise ApiError(
                f"file is {seconds:.1f} s long; a reference clip must be "
                f"{REF_MIN_SECONDS:g}-{REF_MAX_SECONDS:g} s",
                param="file",
            )
        return api.workspace.import_upload(temp)
