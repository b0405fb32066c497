"""The instrument's client of a generation server: GeneratorClient's interface (submit, cancel,
poll for Queued, Progress, Result, Failed, ModelStatus) over the server's HTTP API (api.py), with
the standard library only (Python 3.8, no Ray on the instrument).

Each job runs in a thread of its own: it submits the job and reads its event stream on the same
answer, to the done line that carries the result's WAVs (one exchange: over a network each costs
a round trip). The server sends a blank line every few seconds while nothing happens, so a
stream silent for ``stall_timeout`` means the network or the server is gone. What
goes wrong ends the job with a Failed whose kind says what: ``unreachable`` (no connection),
``refused`` (a wrong token), ``busy`` (the server's queue is full), ``invalid`` (the job itself),
``lost`` (the stream cut or stalled mid-job), ``cancelled``, ``error``.
"""

from __future__ import annotations

import collections
import http.client
import json
import queue
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Deque, Dict, List, Optional, Tuple

import numpy as np

from promptsynth.generator import protocol as msg
from promptsynth.generator.client import QueueFull, check_source
from promptsynth.generator.params import GenerationParams, validate
from promptsynth.remote import api

FALLBACK_KINDS = ("unreachable", "refused", "busy", "lost", "timeout", "error")  # auto makes these locally


class RemoteJob:
    def __init__(self, job: msg.Job):
        self.job = job
        self.server_id = ""
        self.cancel = threading.Event()
        self.ended = False  # its end (Result or Failed) is out: nothing more of it goes out
        self.started = time.monotonic()


class RemoteClient:
    def __init__(
        self,
        url: str,
        token: str,
        model: str,
        connect_timeout: float = 3.0,
        stall_timeout: float = 20.0,
        queue_size: int = 4,
        timeout: float = 600.0,
        max_prompt_chars: int = 1000,
    ):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("the server's url must be http://HOST[:PORT] or https://HOST[:PORT], got %r" % url)
        self.url = url
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        self.base = u.path.rstrip("/")
        self.token = token
        self.model = model
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        self.queue_size = queue_size
        self.timeout = timeout
        self.max_prompt_chars = max_prompt_chars
        self.model_state = "stopped"
        self.model_detail = ""
        self.restarts = 0
        self.proc = None  # (GeneratorClient's process: a server has none here)
        self.queue: Deque[msg.Job] = collections.deque()  # jobs not yet started on the server
        self.running: Optional[Tuple[msg.Job, float]] = None  # the job the server works on
        self._jobs: Dict[int, RemoteJob] = {}
        self._events: queue.Queue[object] = queue.Queue()
        self._next = 1
        self._lock = threading.Lock()

    # ---- HTTP ---------------------------------------------------------------------------------
    def _conn(self, timeout: float) -> http.client.HTTPConnection:
        """A connection made within ``connect_timeout``, whose reads then wait up to ``timeout``
        (a busy server may take a while to answer; one that cannot be reached is known at once)."""
        if self.https:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.connect_timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.connect_timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(timeout)
        return conn

    def request(self, method: str, path: str, body: Optional[bytes] = None, timeout: Optional[float] = None):
        """(status, headers, body) of one request; OSError when the server cannot be reached."""
        conn = self._conn(timeout or self.stall_timeout)
        try:
            conn.request(method, self.base + api.PREFIX + path, body=body, headers=self._headers(body is not None))
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        except http.client.HTTPException as e:
            raise OSError("bad answer from the server: %s" % e) from None
        finally:
            conn.close()

    @staticmethod
    def _message(body: bytes) -> str:
        try:
            return str(json.loads(body.decode("utf-8")).get("error", ""))[:300]
        except (ValueError, UnicodeDecodeError, AttributeError):
            return body[:200].decode("utf-8", "replace")

    # ---- the server ---------------------------------------------------------------------------
    def start(self) -> None:
        """Ask the server whether it serves our model (in the background: a ModelStatus says)."""
        self.model_state = "starting"
        threading.Thread(target=self._check_health, name="remote-health", daemon=True).start()

    def _check_health(self) -> None:
        try:
            status, _, body = self.request("GET", "/health")
        except OSError as e:
            self._status("failed", "server %s unreachable: %s" % (self.url, e))
            return
        if status != 200:
            self._status("failed", "server %s: %s (HTTP %d)" % (self.url, self._message(body), status))
            return
        models = json.loads(body.decode("utf-8")).get("models", {})
        if self.model not in models:
            self._status(
                "failed", "server %s does not serve %s (it serves %s)" % (self.url, self.model, ", ".join(models))
            )
        else:
            self._status("ready", "on %s" % self.url)

    def _status(self, state: str, detail: str) -> None:
        self.model_state, self.model_detail = state, detail
        self._events.put(msg.ModelStatus(self.model, state, detail))

    def alive(self) -> bool:
        return self.model_state not in ("stopped", "failed")

    def stop(self, timeout: float = 3.0) -> None:
        for rj in list(self._jobs.values()):
            rj.cancel.set()
        self.model_state = "stopped"

    # ---- jobs ---------------------------------------------------------------------------------
    def submit(
        self,
        params: GenerationParams,
        model: Optional[str] = None,
        source: Optional[np.ndarray] = None,
        source_rate: int = 0,
    ) -> int:
        """Check and queue a job (it is sent in the background); ParamError or QueueFull."""
        model = model or self.model
        p = validate(params, max_prompt_chars=self.max_prompt_chars)  # the server checks the model's own limits
        if p.source:
            source = check_source(source, source_rate)
        with self._lock:
            if len(self._jobs) > self.queue_size:
                raise QueueFull("the generator queue is full (%d waiting): wait or cancel one" % (len(self._jobs) - 1))
            job = msg.Job(self._next, model, "", p, None, self.timeout, source if p.source else None, source_rate)
            self._next += 1
            rj = RemoteJob(job)
            self._jobs[job.job_id] = rj
            self.queue.append(job)
        threading.Thread(target=self._run, args=(rj,), name="remote-job-%d" % job.job_id, daemon=True).start()
        return job.job_id

    def server_job(self, job_id: int) -> str:
        """The server's id of a job (empty until the server took it)."""
        rj = self._jobs.get(job_id)
        return rj.server_id if rj is not None else ""

    def params_of(self, job_id: int) -> Optional[GenerationParams]:
        rj = self._jobs.get(job_id)
        return rj.job.params if rj is not None else None

    def cancel(self, job_id: int) -> bool:
        """The job ends cancelled now (as the local generator's does within a step); the server is
        told in the background and stops it at its next step."""
        rj = self._jobs.get(job_id)
        if rj is None:
            return False
        rj.cancel.set()
        if rj.server_id:
            threading.Thread(target=self._delete, args=(rj.server_id,), daemon=True).start()
        self._end(rj, msg.Failed(job_id, "cancelled", "cancelled"))
        return True

    def _end(self, rj: RemoteJob, event) -> None:
        with self._lock:
            if rj.ended:
                return
            rj.ended = True
        self._events.put(event)

    def _delete(self, server_id: str) -> None:
        try:
            self.request("DELETE", "/jobs/" + server_id)
        except OSError:
            pass  # gone already: the job ends cancelled here either way

    def poll(self, timeout: float = 0.0) -> List[object]:
        """Everything that happened since the last call."""
        events: List[object] = []
        try:
            events.append(self._events.get(timeout=timeout) if timeout > 0 else self._events.get_nowait())
            while True:
                events.append(self._events.get_nowait())
        except queue.Empty:
            pass
        for ev in events:
            if isinstance(ev, (msg.Result, msg.Failed)):
                with self._lock:
                    self._jobs.pop(ev.job_id, None)
                    self.queue = collections.deque(j for j in self.queue if j.job_id != ev.job_id)
                    if self.running is not None and self.running[0].job_id == ev.job_id:
                        self.running = None
        return events

    def run(
        self,
        params: GenerationParams,
        model: Optional[str] = None,
        on_event=None,
        timeout=None,
        source=None,
        source_rate: int = 0,
    ):
        """Submit and wait: the Result, or JobFailed."""
        from promptsynth.generator.client import wait_for_job

        job_id = self.submit(params, model, source, source_rate)
        return wait_for_job(self, job_id, timeout or self.timeout + 60, on_event, "the server")

    # ---- a job's thread -----------------------------------------------------------------------
    def _fail(self, rj: RemoteJob, reason: str, kind: str) -> None:
        self._end(rj, msg.Failed(rj.job.job_id, reason, "cancelled" if rj.cancel.is_set() else kind))

    def _run(self, rj: RemoteJob) -> None:
        """Submit the job and read its news on the same answer (one exchange for the whole job; a
        server that answers 202 is older: its events are read on a second one)."""
        job = rj.job
        conn: Optional[http.client.HTTPConnection] = None
        try:
            body = api.job_body(job.params, job.model, job.source, job.source_rate)
            conn = self._conn(self.stall_timeout)
            conn.request("POST", self.base + api.PREFIX + "/jobs?stream=1", body=body, headers=self._headers(True))
            r = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            if conn is not None:
                conn.close()
            self._fail(rj, "the generation server %s cannot be reached: %s" % (self.url, e), "unreachable")
            return
        try:
            if r.status == 202:
                rj.server_id = str(json.loads(r.read().decode("utf-8"))["job"])
                if rj.cancel.is_set():
                    self._delete(rj.server_id)
                conn.close()
                conn = self._conn(self.stall_timeout)
                conn.request("GET", self.base + api.PREFIX + "/jobs/%s/events" % rj.server_id, headers=self._headers())
                r = conn.getresponse()
            if r.status != 200:
                kind = {401: "refused", 503: "busy", 400: "invalid", 413: "invalid"}.get(r.status, "error")
                why = self._message(r.read())
                if r.status == 401:
                    why = "the server refused this instrument's token ([generator] token)"
                self._fail(rj, "server: %s" % why, kind)
                return
            self._follow(rj, r)
        except (OSError, ValueError, KeyError, api.ApiError, http.client.HTTPException) as e:
            reason = "the connection to the server was lost mid-job (%s)" % (e or type(e).__name__)
            self._fail(rj, reason, "lost")
        finally:
            conn.close()

    def _headers(self, body: bool = False) -> Dict[str, str]:
        headers = {"Authorization": "Bearer " + self.token}
        if body:
            headers["Content-Type"] = "application/json"
        return headers

    def _follow(self, rj: RemoteJob, r: http.client.HTTPResponse) -> None:
        """Read the job's events to its end (a silent stream is a lost one); its result."""
        job = rj.job
        while True:
            try:
                line = r.readline()
            except socket.timeout:
                raise OSError("no news from the server for %g s" % self.stall_timeout) from None
            if not line:
                raise OSError("the server closed the stream")
            if rj.ended:  # cancelled here: the server was told; stop listening
                return
            if not line.strip():
                continue  # the server's keep-alive
            ev = json.loads(line.decode("utf-8"))
            kind = ev.get("event")
            if kind == "queued":
                if not rj.server_id and ev.get("job"):
                    rj.server_id = str(ev["job"])
                    if rj.cancel.is_set():  # cancelled before the server named the job
                        self._delete(rj.server_id)
                        return
                self._events.put(msg.Queued(job.job_id, int(ev.get("position", 0))))
            elif kind == "started":
                with self._lock:
                    self.queue = collections.deque(j for j in self.queue if j.job_id != job.job_id)
                    self.running = (job, time.monotonic())
            elif kind == "progress":
                self._events.put(
                    msg.Progress(
                        job.job_id, int(ev["step"]), int(ev["total"]), float(ev["elapsed"]), float(ev["remaining"])
                    )
                )
            elif kind == "failed":
                self._fail(rj, "server: %s" % ev.get("reason", ""), str(ev.get("kind", "error")))
                return
            elif kind == "done":
                if "audio" in ev:  # the result came with the news
                    self._finish(rj, ev, api.audio_of(ev))
                else:
                    self._result(rj, int(ev.get("candidates", 1)))
                return

    def _result(self, rj: RemoteJob, candidates: int) -> None:
        """The result fetched after the stream (an older server's done line does not carry it)."""
        status, _, body = self.request("GET", "/jobs/" + rj.server_id, timeout=self.stall_timeout)
        if status != 200:
            self._fail(rj, "server: %s" % self._message(body), "lost")
            return
        state = json.loads(body.decode("utf-8"))
        audio = []
        for k in range(candidates):
            status, _, wav = self.request("GET", "/jobs/%s/audio/%d" % (rj.server_id, k), timeout=self.stall_timeout)
            if status != 200:
                self._fail(rj, "server: %s" % self._message(wav), "lost")
                return
            samples, _ = api.wav_audio(wav)
            audio.append(samples)
        self._finish(rj, state, audio)

    def _finish(self, rj: RemoteJob, state: Dict, audio: List[np.ndarray]) -> None:
        """The job's Result from the server's state and its candidates."""
        job = rj.job
        if rj.cancel.is_set():  # cancelled after its last step: dropped, as the local one is
            self._fail(rj, "cancelled (it had finished: its sound is dropped)", "cancelled")
            return
        recipes = state.get("recipes") or [{}]
        for r in recipes:
            r["server"] = self.url
        self._end(
            rj,
            msg.Result(
                job.job_id,
                [],
                recipes[0],
                dict(state.get("seconds") or {}),
                list(state.get("warnings") or []),
                dict(state.get("calls") or {}),
                audio,
                int(state.get("rate", 16000)),
                recipes,
                int(state.get("batch", 1)),
            ),
        )
