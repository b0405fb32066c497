"""The web page's HTTP side (Starlette): the routes of docs/web.md, top to bottom.

Each route says what it needs: a login, a CSRF token (every change), a place kiosk mode allows.
Handlers are async and never block the event loop: what waits (the daemon loop through the
bridge, the disk, an import) runs in a worker thread, so a slow request never delays a fast one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Awaitable, Callable, Dict, List, Optional

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from promptsynth.config import Config, ConfigError, state_dir
from promptsynth.library.presets import sampler_settings
from promptsynth.library.sounds import Exists, InUse, LibraryError, safe_name
from promptsynth.log import describe
from promptsynth.web import actions
from promptsynth.web.auth import LoginThrottle, Session, Sessions, same_token, verify_password
from promptsynth.web.bridge import Bridge, Busy
from promptsynth.web.library_view import UPLOAD_KINDS, ZIP_MAX_RATIO, LibraryView, UploadRefused, sniff_audio
from promptsynth.web.logbuffer import LogBuffer

log = logging.getLogger("web")

COOKIE = "ps_session"
CSRF_HEADER = "x-csrf-token"
MAX_JSON = 64 * 1024  # a settings change or a prompt: nothing legitimate is bigger
STATIC = os.path.join(os.path.dirname(__file__), "static")
DOCTOR_TIMEOUT_S = 60.0
HEADERS = {  # on every answer: no framing, no sniffing, no scripts but our own, no referrer
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.extra = status, extra


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    body: Dict[str, Any] = {"error": message}
    body.update(extra)
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


class Web:
    """What the routes share: the config, the bridge to the instrument, sessions, the library."""

    def __init__(
        self,
        cfg: Config,
        bridge: Bridge,
        inst,
        board: actions.JobBoard,
        logs: Optional[LogBuffer] = None,
        config_path: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg, self.bridge, self.inst, self.board, self.clock = cfg, bridge, inst, board, clock
        self.logs = logs or LogBuffer()
        self.config_path = config_path
        self.kiosk = cfg.web.kiosk or cfg.panel.kiosk
        self.sessions = Sessions(cfg.web.session_hours * 3600.0, clock)
        self.throttle = LoginThrottle(clock)
        self.view = LibraryView(state_dir(cfg), cfg.audio.rate, sampler_settings(cfg.sampler))
        self.uploads_dir = os.path.join(state_dir(cfg), ".uploads")
        self._importing = threading.Semaphore(1)  # one import at a time: the disk and the CPU are shared

    # ---- the instrument, through the bridge (a worker thread waits, never the event loop) -------
    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(self.bridge.call, fn, self.inst, *args)


# ---- guards -------------------------------------------------------------------------------------


def session_of(web: Web, request: Request) -> Optional[Session]:
    return web.sessions.get(request.cookies.get(COOKIE))


def with_cookie(resp: Response, web: Web, s: Session) -> Response:
    resp.set_cookie(
        COOKIE, s.id, max_age=int(web.cfg.web.session_hours * 3600), httponly=True, samesite="strict", path="/"
    )
    return resp


Handler = Callable[[Web, Request, Session], Awaitable[Response]]


def route(web: Web, handler: Handler, change: bool = False, kiosk_ok: bool = True, login: bool = True):
    """A route's checks, in order: a session (401), the CSRF token on a change (403), kiosk mode
    (403); then the handler, whose refusals become JSON errors."""

    async def endpoint(request: Request) -> Response:
        s = session_of(web, request)
        try:
            if s is None or (login and not s.logged_in):
                raise HttpError(401, "log in first")
            if change and not same_token(request.headers.get(CSRF_HEADER), s.csrf):
                raise HttpError(403, "missing or wrong CSRF token: reload the page")
            if not kiosk_ok and web.kiosk:
                raise HttpError(403, "not in kiosk mode")
            resp = await handler(web, request, s)
        except HttpError as e:
            resp = error(e.status, str(e), **e.extra)
        except Busy as e:
            resp = error(503, str(e))
        except InUse as e:
            resp = error(409, str(e), users=e.users)
        except Exists as e:
            resp = error(409, str(e))
        except (ConfigError, LibraryError, ValueError) as e:  # the schema's or the library's message
            resp = error(400, str(e))
        except OSError as e:  # a full or failing disk: said, nothing lost
            resp = error(507 if getattr(e, "errno", None) == 28 else 500, describe(e))
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    return endpoint


async def json_body(request: Request) -> Dict[str, Any]:
    if int(request.headers.get("content-length") or 0) > MAX_JSON:
        raise HttpError(413, "request too large")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON:
            raise HttpError(413, "request too large")
    try:
        data = json.loads(raw.decode("utf-8") or "{}")
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "the body must be a JSON object")
    return data


def text_arg(data: Dict[str, Any], key: str) -> str:
    v = data.get(key)
    if not isinstance(v, str):
        raise HttpError(400, "%s must be text" % key)
    return v


def int_arg(request: Request, key: str, default: int) -> int:
    try:
        return int(request.query_params.get(key, default))
    except ValueError:
        raise HttpError(400, "%s must be a whole number" % key) from None


def attachment(name: str, data: bytes, media: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:120] or "download"
    return Response(data, media_type=media, headers={"Content-Disposition": 'attachment; filename="%s"' % safe})


# ---- session --------------------------------------------------------------------------------------


async def get_session(web: Web, request: Request) -> Response:
    s = session_of(web, request) or web.sessions.new()
    resp = JSONResponse({"logged_in": s.logged_in, "csrf": s.csrf, "kiosk": web.kiosk})
    resp.headers["Cache-Control"] = "no-store"
    return with_cookie(resp, web, s)


async def login(web: Web, request: Request, s: Session) -> Response:
    addr = request.client.host if request.client else "?"
    wait = web.throttle.wait_s(addr)
    if wait > 0:
        resp = error(429, "too many failed logins: wait %.0f s" % wait, retry_after=wait)
        resp.headers["Retry-After"] = str(int(wait + 0.999))
        return resp
    password = text_arg(await json_body(request), "password")
    ok = await run_in_threadpool(verify_password, password, web.cfg.web.password_hash)
    if not ok:
        wait = web.throttle.failed(addr)
        resp = error(401, "wrong password")
        if wait > 0:
            resp.headers["Retry-After"] = str(int(wait + 0.999))
        return resp
    web.throttle.succeeded(addr)
    new = web.sessions.login(s)
    return with_cookie(JSONResponse({"csrf": new.csrf}), web, new)


async def logout(web: Web, request: Request, s: Session) -> Response:
    web.sessions.logout(s)
    resp = JSONResponse({})
    resp.delete_cookie(COOKIE, path="/")
    return resp


# ---- now playing, generating ------------------------------------------------------------------------


async def status(web: Web, request: Request, s: Session) -> Response:
    return JSONResponse(await web.call(actions.status, web.board))


async def generate(web: Web, request: Request, s: Session) -> Response:
    prompt = text_arg(await json_body(request), "prompt")
    try:
        job = await web.call(actions.generate, web.board, prompt)
    except (Busy, HttpError):
        raise
    except Exception as e:  # ParamError, QueueFull, no model: the generator's own message
        raise HttpError(400, str(e)) from None
    return JSONResponse({"job": job})


async def cancel(web: Web, request: Request, s: Session) -> Response:
    job = (await json_body(request)).get("job")
    if job is not None and (isinstance(job, bool) or not isinstance(job, int)):
        raise HttpError(400, "job must be a job id or null")
    return JSONResponse({"cancelled": await web.call(actions.cancel, job)})


# ---- the library ------------------------------------------------------------------------------------


async def sounds(web: Web, request: Request, s: Session) -> Response:
    q = request.query_params.get("q", "")[:200]
    offset, limit = int_arg(request, "offset", 0), int_arg(request, "limit", 100)
    return JSONResponse(await run_in_threadpool(web.view.sounds, q, offset, limit))


def sound_id(request: Request) -> str:
    return str(request.path_params["sound"])


async def sound_audio(web: Web, request: Request, s: Session) -> Response:
    data = await run_in_threadpool(web.view.wav16, sound_id(request))
    return Response(data, media_type="audio/wav", headers={"Cache-Control": "private, max-age=3600"})


async def sound_peaks(web: Web, request: Request, s: Session) -> Response:
    return JSONResponse(await run_in_threadpool(web.view.peaks, sound_id(request), int_arg(request, "n", 600)))


async def sound_download(web: Web, request: Request, s: Session) -> Response:
    name, data = await run_in_threadpool(web.view.sound_zip, sound_id(request))
    return attachment(name, data, "application/zip")


async def sound_play(web: Web, request: Request, s: Session) -> Response:
    await web.call(actions.play_sound, sound_id(request))
    return JSONResponse({})


async def sound_rename(web: Web, request: Request, s: Session) -> Response:
    name = safe_name(text_arg(await json_body(request), "name"))
    await web.call(lambda inst: inst.rename_sound(sound_id(request), name))
    return JSONResponse({"name": name})


async def sound_delete(web: Web, request: Request, s: Session) -> Response:
    force = request.query_params.get("force") in ("1", "true")
    await web.call(lambda inst: inst.delete_sound(sound_id(request), force=force))
    return JSONResponse({})


async def upload(web: Web, request: Request, s: Session) -> Response:
    """A WAV or FLAC as the request body: its size, count, name and content checked before
    anything is imported; the file is written under the state folder (never /tmp, a RAM disk)."""
    w = web.cfg.web
    limit = int(w.max_upload_mb * 1024 * 1024)
    now = web.clock()
    s.uploads = [t for t in s.uploads if now - t < 3600.0]
    if len(s.uploads) >= w.max_uploads:
        raise HttpError(429, "%d uploads in the last hour: the most a session may make" % w.max_uploads)
    if int(request.headers.get("content-length") or 0) > limit:
        raise HttpError(413, "the file is larger than %g MB" % w.max_upload_mb)
    name = safe_name(request.query_params.get("name", ""), "file name")  # no separators, no ".."
    if not name.lower().endswith(UPLOAD_KINDS):
        raise HttpError(415, "only WAV and FLAC files, or a zip of them (an SFZ with its samples), can be imported")
    os.makedirs(web.uploads_dir, exist_ok=True)
    folder = tempfile.mkdtemp(dir=web.uploads_dir)
    path = os.path.join(folder, name)
    try:
        size = 0
        with open(path, "wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise HttpError(413, "the file is larger than %g MB" % w.max_upload_mb)
                fh.write(chunk)
        with open(path, "rb") as src:
            kind = sniff_audio(src.read(12))
        if kind is None or not name.lower().endswith("." + kind):
            raise HttpError(415, "%s is not a %s file" % (name, os.path.splitext(name)[1][1:].upper()))
        s.uploads.append(now)

        def run_import() -> Dict[str, Any]:
            with web._importing:
                if kind == "zip":  # an SFZ kit with its samples, or a folder of sounds: a USB stick
                    return web.view.import_zip(path, limit * ZIP_MAX_RATIO)
                return web.view.import_upload(path)

        try:
            got = await run_in_threadpool(run_import)
        except UploadRefused as e:
            raise HttpError(e.status, "%s: %s" % (name, e)) from None
        except (LibraryError, OSError):
            raise
        except Exception as e:  # soundfile refuses it: a broken file, said as such
            raise HttpError(415, "%s could not be read as audio: %s" % (name, describe(e))) from None
        return JSONResponse(got)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---- presets ----------------------------------------------------------------------------------------


def preset_row(p) -> Dict[str, Any]:
    return {
        "bank": p.bank,
        "name": p.name,
        "sound": p.sound or "",
        "prompt": str(p.generation.get("prompt", "")) if p.generation else "",
        "zones": len(p.zones),
        "missing": bool(p.missing_sound),
    }


async def presets(web: Web, request: Request, s: Session) -> Response:
    found = await web.call(lambda inst: [preset_row(p) for p in inst.presets()])
    return JSONResponse({"presets": found})


async def preset_load(web: Web, request: Request, s: Session) -> Response:
    data = await json_body(request)
    await web.call(actions.load_preset, text_arg(data, "bank"), text_arg(data, "name"))
    return JSONResponse({})


async def preset_save(web: Web, request: Request, s: Session) -> Response:
    name = safe_name(text_arg(await json_body(request), "name"))
    await web.call(lambda inst: inst.save_preset(name, "user"))
    return JSONResponse({"bank": "user", "name": name})


async def preset_delete(web: Web, request: Request, s: Session) -> Response:
    bank, name = request.query_params.get("bank", ""), request.query_params.get("name", "")
    await web.call(lambda inst: inst.delete_preset(inst.preset(bank, name)))
    return JSONResponse({})


async def preset_download(web: Web, request: Request, s: Session) -> Response:
    bank, name = request.query_params.get("bank", ""), request.query_params.get("name", "")
    fname, data = await run_in_threadpool(web.view.preset_zip, bank, name)
    return attachment(fname, data, "application/zip")


async def bank_download(web: Web, request: Request, s: Session) -> Response:
    fname, data = await run_in_threadpool(web.view.bank_zip, request.query_params.get("bank", ""))
    return attachment(fname, data, "application/zip")


# ---- settings, logs, doctor -------------------------------------------------------------------------


async def get_settings(web: Web, request: Request, s: Session) -> Response:
    return JSONResponse(await web.call(actions.settings))


async def set_setting(web: Web, request: Request, s: Session) -> Response:
    data = await json_body(request)
    if "value" not in data:
        raise HttpError(400, "value is missing")
    value = await web.call(actions.set_setting, text_arg(data, "section"), text_arg(data, "key"), data["value"])
    return JSONResponse({"value": value})


async def logs(web: Web, request: Request, s: Session) -> Response:
    return JSONResponse({"lines": web.logs.lines()})


def run_doctor(config_path: Optional[str]) -> List[str]:
    """`promptsynth doctor` in a process of its own: its checks open devices and import the
    model's libraries, none of which belongs in the daemon."""
    cmd = [sys.executable, "-m", "promptsynth", "doctor"] + (["--config", config_path] if config_path else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=DOCTOR_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return ["doctor did not finish within %.0f s" % DOCTOR_TIMEOUT_S]
    return (out.stdout + out.stderr).splitlines()


async def doctor(web: Web, request: Request, s: Session) -> Response:
    return JSONResponse({"lines": await run_in_threadpool(run_doctor, web.config_path)})


async def index(request: Request) -> Response:
    return FileResponse(os.path.join(STATIC, "index.html"), headers={"Cache-Control": "no-cache"})


def build(web: Web):
    """The application: the page, its assets, and the API of docs/web.md."""

    def r(path: str, handler: Handler, method: str = "GET", **checks: Any) -> Route:
        change = method != "GET"
        return Route(path, route(web, handler, change=change, **checks), methods=[method])

    async def session_endpoint(request: Request) -> Response:
        return await get_session(web, request)

    routes = [
        Route("/", index),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/api/session", session_endpoint),
        r("/api/login", login, "POST", login=False),
        r("/api/logout", logout, "POST"),
        r("/api/status", status),
        r("/api/generate", generate, "POST"),
        r("/api/cancel", cancel, "POST"),
        r("/api/sounds", sounds),
        r("/api/sounds/{sound}/audio", sound_audio),
        r("/api/sounds/{sound}/peaks", sound_peaks),
        r("/api/sounds/{sound}/download", sound_download),
        r("/api/sounds/{sound}/play", sound_play, "POST"),
        r("/api/sounds/{sound}/rename", sound_rename, "POST", kiosk_ok=False),
        r("/api/sounds/{sound}", sound_delete, "DELETE", kiosk_ok=False),
        r("/api/upload", upload, "PUT", kiosk_ok=False),
        r("/api/presets", presets),
        r("/api/presets", preset_delete, "DELETE", kiosk_ok=False),
        r("/api/presets/load", preset_load, "POST"),
        r("/api/presets/save", preset_save, "POST", kiosk_ok=False),
        r("/api/presets/download", preset_download),
        r("/api/banks/download", bank_download),
        r("/api/settings", get_settings),
        r("/api/settings", set_setting, "POST", kiosk_ok=False),
        r("/api/logs", logs),
        r("/api/doctor", doctor),
    ]
    handlers = {404: not_found, 405: not_allowed, 500: server_error}
    return SecurityHeaders(Starlette(routes=routes, exception_handlers=handlers))


async def not_found(request: Request, exc: Exception) -> Response:
    return error(404, "no such page: %s" % request.url.path[:200])


async def not_allowed(request: Request, exc: Exception) -> Response:
    return error(405, "%s is not allowed here" % request.method)


async def server_error(request: Request, exc: Exception) -> Response:
    """A bug in a handler: said briefly and logged; the instrument plays on."""
    log.error("web: %s %s failed: %s", request.method, request.url.path[:200], describe(exc))
    return error(500, "internal error: %s" % describe(exc))


class SecurityHeaders:
    """HEADERS on every answer, the page's and the API's (plain ASGI: no framework decorator)."""

    def __init__(self, app):
        self.app = app
        self.extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [h for h in self.extra if h[0] not in have]
            await send(message)

        return await self.app(scope, receive, send_with_headers)
