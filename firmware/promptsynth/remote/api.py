"""The generation server's HTTP API: paths, limits and the JSON both sides speak (one source).

    POST   /v1/jobs                  a job: {"model", "params", "source"?} -> 202 {"job", "position"}
    POST   /v1/jobs?stream=1         the same job, answered 200 with its news at once (below)
    GET    /v1/jobs/{job}/events     its news as JSON lines (queued, started, progress, done, failed)
    GET    /v1/jobs/{job}            its state; when done its recipes, warnings, timings, calls
    GET    /v1/jobs/{job}/audio/{k}  candidate k (best first) as a float32 WAV at the model's rate
    DELETE /v1/jobs/{job}            cancel it
    GET    /v1/health                the models served, their replicas and queues

Every request carries ``Authorization: Bearer TOKEN``; a job is its instrument's alone (another
token gets 404). Errors are ``{"error": "..."}`` with 400 (a bad job: the message says what),
401 (no or wrong token), 404, 413 (body too large), 503 with ``Retry-After`` (busy: the queue is
full). Parameters are checked by generator/params.py, as on the instrument.

A stream asked for with ``POST ?stream=1`` (the instrument's way: one exchange for the whole job)
or ``GET events?result=1`` carries the result in its ``done`` line: the state's fields and
``audio``, each candidate a base64 float WAV; its first line, ``queued``, names the ``job`` (for a
cancel). Progress may be coalesced: a reader that falls behind gets the latest step.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from promptsynth.generator.params import GenerationParams, ParamError, from_dict

PREFIX = "/v1"
MAX_MODEL_CHARS = 100
EVENT_KINDS = ("queued", "started", "progress", "done", "failed")


class ApiError(Exception):
    """A request refused: the HTTP status and a message for the user."""

    def __init__(self, status: int, message: str, retry_after: Optional[int] = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    """Mono float32 samples as a float WAV (lossless: the same samples come back)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, np.float32), rate, subtype="FLOAT", format="WAV")
    return buf.getvalue()


def wav_audio(data: bytes) -> Tuple[np.ndarray, int]:
    """A WAV's samples (mono float32: channels averaged) and rate; ApiError if it is not one."""
    import soundfile as sf

    try:
        a, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises its own error and RuntimeError for bad data
        raise ApiError(400, "the source is not a readable WAV: %s" % e) from None
    return np.ascontiguousarray(a.mean(axis=1)), int(rate)


def job_body(params: GenerationParams, model: str, source: Optional[np.ndarray] = None, source_rate: int = 0) -> bytes:
    """A job as the client sends it."""
    body: Dict[str, Any] = {"model": model, "params": params.to_dict()}
    if source is not None:
        body["source"] = {"wav": base64.b64encode(wav_bytes(source, source_rate)).decode("ascii")}
    return json.dumps(body).encode("utf-8")


def parse_job(raw: bytes) -> Tuple[str, GenerationParams, Optional[np.ndarray], int]:
    """(model, parameters, source samples, source rate) of a job's body; ApiError (400) saying what
    is wrong. The parameters are not yet validated against the model's limits (the caller does)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    unknown = sorted(set(body) - {"model", "params", "source"})
    if unknown:
        raise ApiError(400, "unknown field(s): %s" % ", ".join(str(u)[:40] for u in unknown[:5]))
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > MAX_MODEL_CHARS:
        raise ApiError(400, "model must be a model's name")
    try:
        params = from_dict(body.get("params"))
    except (ParamError, TypeError) as e:
        raise ApiError(400, str(e)) from None
    source, rate = None, 0
    if body.get("source") is not None:
        src = body["source"]
        if not isinstance(src, dict) or not isinstance(src.get("wav"), str):
            raise ApiError(400, 'source must be {"wav": base64 WAV}')
        try:
            data = base64.b64decode(src["wav"], validate=True)
        except ValueError:
            raise ApiError(400, "the source's WAV is not base64") from None
        source, rate = wav_audio(data)
    return model, params, source, rate


def inline_result(result: Dict[str, Any], audio: List[np.ndarray]) -> Dict[str, Any]:
    """A done event's result fields: the state's, and each candidate as a base64 float WAV."""
    rate = int(result.get("rate", 16000))
    out = dict(result)
    out["candidates"] = len(audio)
    out["audio"] = [base64.b64encode(wav_bytes(a, rate)).decode("ascii") for a in audio]
    return out


def audio_of(event: Dict[str, Any]) -> List[np.ndarray]:
    """The candidates of a done event that carries them; ValueError if one is not a WAV."""
    try:
        return [wav_audio(base64.b64decode(w, validate=True))[0] for w in event["audio"]]
    except (ApiError, TypeError, ValueError) as e:
        raise ValueError("the server's result is not audio: %s" % e) from None


def event_line(event: Dict[str, Any]) -> bytes:
    """One line of a job's event stream: {"event": one of EVENT_KINDS, ...its fields}."""
    assert event.get("event") in EVENT_KINDS
    return (json.dumps(event) + "\n").encode("utf-8")
