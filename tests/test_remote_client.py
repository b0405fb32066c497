"""The instrument's client of a generation server (remote/client.py) against servers that are not
ours to run here: an older one (202, then the events and the result on exchanges of their own),
and broken ones (a result that is not audio, a stream cut or silent mid-job). A stdlib HTTP
server on 127.0.0.1 speaks the API's lines (remote/api.py); the real server, on a real Ray, is
tests/test_server.py's. Python 3.8 and no Ray, as on the instrument."""

import base64
import http.server
import json
import threading
import time

import numpy as np
import pytest

from promptsynth.generator import protocol as msg
from promptsynth.generator.params import GenerationParams
from promptsynth.remote import api
from promptsynth.remote.client import RemoteClient

RATE = 16000
SOUND = (0.25 * np.sin(2 * np.pi * 440.0 * np.arange(RATE // 4) / RATE)).astype(np.float32)
STATE = dict(recipes=[{"prompt": "a bell", "seed": 3}], warnings=[], seconds={"model": 0.5}, calls={}, rate=RATE)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, lines, old=False):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lines = lines  # the job's stream: bytes, or a number of seconds to stay silent
        self.old = old  # answer a POST with 202 and serve the events and result on their own paths
        self.paths = []


class Handler(http.server.BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args):
        pass

    def _send(self, status, body, kind="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for line in self.server.lines:
            if isinstance(line, (int, float)):
                time.sleep(line)
                continue
            self.wfile.write(line)
            self.wfile.flush()

    def do_POST(self):
        self.server.paths.append("POST " + self.path)
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.old:
            self._send(202, json.dumps({"job": "j1", "position": 0}).encode())
        else:
            self._stream()

    def do_GET(self):
        self.server.paths.append("GET " + self.path)
        if self.path.endswith("/events"):
            self._stream()
        elif self.path.endswith("/audio/0"):
            self._send(200, api.wav_bytes(SOUND, RATE), "audio/wav")
        else:
            self._send(200, json.dumps(dict(STATE, job="j1", state="done", candidates=1)).encode())


@pytest.fixture
def serve():
    servers = []

    def start(lines, old=False):
        s = Server(lines, old)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def line(**ev):
    return api.event_line(ev)


NEWS = [line(event="queued", job="j1", position=0), line(event="started", batch=1)] + [
    line(event="progress", step=k, total=4, elapsed=0.1 * k, remaining=0.1 * (4 - k)) for k in (1, 2, 3, 4)
]


def run(server, **kw):
    c = RemoteClient("http://127.0.0.1:%d" % server.server_address[1], "token", "tiny", **kw)
    job = c.submit(GenerationParams("a bell", seed=3, seconds=1.0, steps=4))
    end, seen = time.monotonic() + 30, []
    while time.monotonic() < end:
        for ev in c.poll(0.05):
            seen.append(ev)
            if isinstance(ev, (msg.Result, msg.Failed)) and ev.job_id == job:
                return ev, seen
    raise AssertionError("no end in 30 s: the client hung")


def test_the_result_comes_in_the_streams_last_line(serve):
    done = line(event="done", batch=1, **api.inline_result(STATE, [SOUND]))
    s = serve(NEWS + [done])
    ev, seen = run(s)
    assert isinstance(ev, msg.Result), ev
    assert np.array_equal(ev.audio[0], SOUND) and ev.rate == RATE  # float WAV: the same samples
    assert ev.recipe["seed"] == 3 and ev.recipe["server"].startswith("http://127.0.0.1:")
    assert [e.step for e in seen if isinstance(e, msg.Progress)] == [1, 2, 3, 4]
    assert s.paths == ["POST /v1/jobs?stream=1"]  # one exchange for the whole job


def test_an_older_server_is_followed_on_its_own_paths(serve):
    s = serve(NEWS + [line(event="done", candidates=1, batch=1)], old=True)
    ev, _ = run(s)
    assert isinstance(ev, msg.Result), ev
    assert np.array_equal(ev.audio[0], SOUND) and ev.recipe["prompt"] == "a bell"
    assert s.paths == ["POST /v1/jobs?stream=1", "GET /v1/jobs/j1/events", "GET /v1/jobs/j1", "GET /v1/jobs/j1/audio/0"]


@pytest.mark.parametrize(
    "tail, says",
    [
        ([line(event="done", batch=1, **dict(STATE, audio=["!!not base64"]))], "not audio"),
        (
            [line(event="done", batch=1, **dict(STATE, audio=[base64.b64encode(b"RIFF junk").decode()]))],
            "not audio",
        ),
        ([b'{"event": "progr'], "lost mid-job"),  # the connection cut inside a line
        ([], "closed the stream"),
        ([1.5], "no news from the server for 0.5 s"),
    ],
)
def test_a_broken_result_or_stream_ends_the_job_lost_saying_why(serve, tail, says):
    ev, _ = run(serve(NEWS + tail), stall_timeout=0.5)
    assert isinstance(ev, msg.Failed) and ev.kind == "lost" and says in ev.reason, ev


def test_a_refusal_before_the_stream_says_what(serve):
    class Busy(Handler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self._send(503, json.dumps({"error": "busy: 8 jobs wait for tiny; retry in 12 s"}).encode())

    s = serve([])
    s.RequestHandlerClass = Busy
    ev, _ = run(s)
    assert isinstance(ev, msg.Failed) and ev.kind == "busy" and "retry in 12 s" in ev.reason, ev
