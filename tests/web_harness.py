"""The web page's test scaffolding: a daemon on the rig with its page on a free port, and an HTTP
client that keeps the session cookie and CSRF token as the page does (tests/test_web*.py)."""

import concurrent.futures
import http.client
import io
import json
import socket
import threading

import soundfile as sf

from conftest import RATE, step_until
from promptsynth import config
from promptsynth.bench.rig import free_port  # noqa: F401 (test_web imports it from here)
from promptsynth.daemon.run import Daemon
from promptsynth.web.auth import hash_password

PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


class Client:
    """What the page does over HTTP: the session cookie and the CSRF token, kept between calls."""

    def __init__(self, port):
        self.port, self.cookie, self.csrf = port, None, None

    def request(self, method, path, body=None, headers=None, csrf=True):
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.cookie:
            h["Cookie"] = "ps_session=" + self.cookie
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
        finally:
            c.close()
        for v in r.headers.get_all("Set-Cookie") or []:
            if v.startswith("ps_session="):
                self.cookie = v.split(";")[0].split("=", 1)[1] or None
        return r.status, r.headers, data

    def json(self, method, path, body=None, **kw):
        status, _, data = self.request(method, path, body, **kw)
        return status, json.loads(data.decode() or "null")

    def login(self, password=PASSWORD):
        status, s = self.json("GET", "/api/session")
        self.csrf = s["csrf"]
        status, got = self.json("POST", "/api/login", {"password": password})
        if status == 200:
            self.csrf = got["csrf"]
        return status, got


class Running:
    """A daemon with its web page, stepped by the test while a request thread waits on it."""

    def __init__(self, d):
        self.d = d
        self.pool = concurrent.futures.ThreadPoolExecutor(2)

    @property
    def port(self):
        return self.d.network.web.port

    def ask(self, fn, *args, timeout=120.0, **kw):
        """``fn(*args)`` in a request thread, the daemon loop stepped here until it answers."""
        f = self.pool.submit(fn, *args, **kw)
        assert step_until(self.d, f.done, timeout), "no answer within %.0f s" % timeout
        return f.result()


def daemons_with_web(rig, tmp_path):
    """``web(**web_settings)``: a daemon on the rig with its page on a free port (the `web`
    fixture of conftest.py); the daemons are stopped after the test."""
    made = []

    def start(generator=False, cfg=None, **w):
        cfg = cfg or config.replace(rig.config("tap_jack"), "paths", state=str(tmp_path / "state"))
        settings = dict(enabled=True, host="127.0.0.1", port=free_port(), password_hash=HASH)
        settings.update(w)
        cfg = config.replace(cfg, "web", **settings)
        d = Daemon(cfg, rig.env)
        made.append(d)
        d.start(generator=generator)
        assert d.host.wait_ready(60.0), [n.text for n in d.host.notices]
        return Running(d)

    yield start
    for d in made:
        d.stop()


def wav_bytes(x, rate=RATE, fmt="WAV", subtype="PCM_16"):
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


class LoopThread:
    """The daemon loop on a thread of its own, as in life, while a browser drives the page from
    the test's thread (whose waits would otherwise leave every request unanswered)."""

    def __init__(self, d):
        self.d, self.stop_flag = d, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.errors = []

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.d.step()
            except Exception as e:  # kept for the test to see
                self.errors.append(e)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.thread.join(30)
