"""The web page's HTTP side through a real daemon (the engine on the rig's paced ALSA tap) and a
real uvicorn on 127.0.0.1: nothing listens unless turned on; logins, cookies, CSRF and the
slowing of guessers; uploads refused for size, name and content, and imported when good; a
setting changed from the page that the engine's output follows; downloads checked file by file.
The browser's side is tests/test_web_browser.py."""

import http.client
import io
import json
import logging
import os
import socket
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf

from conftest import RATE, step_for, step_until, tiny_config
from promptsynth import config
from promptsynth.daemon.run import Daemon
from promptsynth.engine import messages as m
from web_harness import PASSWORD, Client, free_port, refused, wav_bytes

# ---- nothing listens unless turned on, and never without a password ------------------------------


def test_nothing_listens_unless_the_config_turns_it_on(tmp_path):
    port = free_port()
    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    d = Daemon(config.replace(cfg, "web", port=port, host="127.0.0.1"))
    d.network.start()
    assert d.network.web is None and d.network.osc is None and "web" not in d.health.parts
    assert refused(port)
    # on, but no password: still nothing listens, and the health report says why
    d = Daemon(config.replace(cfg, "web", enabled=True, port=port, host="127.0.0.1"))
    d.network.start()
    assert d.network.web is None and refused(port)
    part = d.health.parts["web"]
    assert part.state == "failed" and "no password set" in part.detail


def test_a_port_in_use_is_reported_and_tried_again(web):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        r = web(port=port)
        part = r.d.health.parts["web"]
        assert r.d.network.web is None and part.state == "failed" and "Address already in use" in part.detail
    finally:
        blocker.close()
    r.d.network._retry_at["web"] = 0.0  # the retry comes due (30 s later in life)
    step_for(r.d, 0.1)
    assert r.d.network.web is not None and r.d.health.parts["web"].state == "ok"
    assert r.ask(Client(port).login)[0] == 200


# ---- logging in ------------------------------------------------------------------------------------


def test_login_gives_a_strict_httponly_cookie_and_a_new_session(web):
    r = web()
    c = Client(r.port)
    status, s = c.json("GET", "/api/session")
    assert status == 200 and s["logged_in"] is False and len(s["csrf"]) >= 40
    before = c.cookie
    assert r.ask(c.json, "GET", "/api/status")[0] == 401  # not logged in: nothing to see
    c.csrf = s["csrf"]
    status, headers, data = r.ask(c.request, "POST", "/api/login", {"password": PASSWORD})
    c.csrf = json.loads(data)["csrf"]
    assert c.csrf != s["csrf"]  # a new token too
    cookie = [v for v in headers.get_all("Set-Cookie") if v.startswith("ps_session=")][0].lower()
    assert status == 200 and "httponly" in cookie and "samesite=strict" in cookie
    assert c.cookie != before  # the session id changes at login: one planted before is worthless
    old = Client(r.port)
    old.cookie = before
    assert r.ask(old.json, "GET", "/api/status")[0] == 401
    status, now = r.ask(c.json, "GET", "/api/status")
    assert status == 200 and now["meters"]["audio_ok"] is True
    # security headers on everything
    _, h, _ = c.request("GET", "/")
    assert h["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in h["Content-Security-Policy"]
    # logging out ends the session on the server too
    kept = Client(r.port)
    kept.cookie = c.cookie
    assert r.ask(c.json, "POST", "/api/logout")[0] == 200
    assert r.ask(kept.json, "GET", "/api/status")[0] == 401


def test_a_flood_of_new_sessions_never_logs_anyone_out(web):
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200

    def flood():
        for _ in range(600):  # twice the sessions kept for visitors not logged in
            Client(r.port).json("GET", "/api/session")

    r.ask(flood)
    assert r.ask(c.json, "GET", "/api/status")[0] == 200


def test_wrong_passwords_are_refused_and_slowed_down(web):
    r = web()
    c = Client(r.port)
    for _ in range(3):
        assert r.ask(c.login, "wrong password")[0] == 401
    status, headers, _ = r.ask(c.request, "POST", "/api/login", {"password": "still wrong"})
    assert status == 401 and int(headers["Retry-After"]) >= 1
    # while it must wait, even the right password is not tried
    status, got = r.ask(c.json, "POST", "/api/login", {"password": PASSWORD})
    assert status == 429 and "wait" in got["error"]
    assert r.ask(c.request, "POST", "/api/login", {"password": PASSWORD})[1]["Retry-After"]


def test_every_change_needs_the_csrf_token(web):
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    body = {"section": "sound", "key": "cutoff", "value": 900.0}
    for token in (None, "forged", ""):
        status, _, data = r.ask(
            c.request, "POST", "/api/settings", body, headers={"X-CSRF-Token": token or ""}, csrf=False
        )
        assert status == 403 and b"CSRF" in data
    assert r.d.inst.current.sampler.cutoff == 20000.0  # nothing changed
    status, got = r.ask(c.json, "POST", "/api/settings", body)
    assert status == 200 and got["value"] == 900.0 and r.d.inst.current.sampler.cutoff == 900.0
    # the schema's own message for a value out of range, and nothing changed
    status, got = r.ask(c.json, "POST", "/api/settings", {"section": "sound", "key": "cutoff", "value": 5.0})
    assert status == 400 and "between 20.0 and 20000.0" in got["error"]
    assert r.d.inst.current.sampler.cutoff == 900.0
    # the login itself needs the session's token
    c2 = Client(r.port)
    c2.json("GET", "/api/session")
    status, _, _ = r.ask(c2.request, "POST", "/api/login", {"password": PASSWORD}, csrf=False)
    assert status == 403


# ---- uploads ----------------------------------------------------------------------------------------


def test_uploads_are_refused_for_size_name_and_content_and_leave_nothing(web, tmp_path):
    r = web(max_upload_mb=1.0)
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    uploads = os.path.join(str(tmp_path / "state"), ".uploads")

    # 1 GB announced: refused before a byte of it is read
    def announce_1gb():
        s = socket.create_connection(("127.0.0.1", r.port), timeout=60)
        head = (
            "PUT /api/upload?name=big.wav HTTP/1.1\r\nHost: x\r\nCookie: ps_session=%s\r\nX-CSRF-Token: %s\r\n"
            "Content-Length: %d\r\n\r\n" % (c.cookie, c.csrf, 1 << 30)
        )
        s.sendall(head.encode() + b"RIFF")
        got = s.recv(4096)
        s.close()
        return got

    assert r.ask(announce_1gb).startswith(b"HTTP/1.1 413")

    # a body that grows past the limit without announcing its length: cut off at the limit
    def chunked_2mb():
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=60)
        hdr = {"Cookie": "ps_session=" + c.cookie, "X-CSRF-Token": c.csrf, "Transfer-Encoding": "chunked"}
        conn.putrequest("PUT", "/api/upload?name=grows.wav")
        for k, v in hdr.items():
            conn.putheader(k, v)
        conn.endheaders()
        try:
            for _ in range(32):
                chunk = b"RIFF" + b"\0" * (64 * 1024 - 4)
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except OSError:  # the server may close before the rest is sent
            pass
        status = conn.getresponse().status
        conn.close()
        return status

    assert r.ask(chunked_2mb) == 413
    good = wav_bytes((0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32))
    for name, body, want in [
        ("../escape.wav", good, 400),
        ("..", good, 400),
        ("a/b.wav", good, 400),
        ("notes.txt", b"hello", 415),
        ("fake.wav", b"this is not audio at all, just text", 415),
        ("fake.flac", good, 415),  # a WAV named .flac: the content decides
        ("broken.wav", b"RIFF\x10\x00\x00\x00WAVEfmt garbage", 415),
    ]:
        status, got = r.ask(c.json, "PUT", "/api/upload?name=" + name.replace("/", "%2F"), body)
        assert status == want, (name, status, got)
    assert os.listdir(uploads) == []  # nothing left behind by the refusals
    assert not [f for f in os.listdir(str(tmp_path)) if "escape" in f]
    status, got = r.ask(c.json, "PUT", "/api/upload?name=Low%20tone.wav", good)
    assert status == 200 and got["new"] and got["sound"]["name"] == "Low tone"
    status, listed = r.ask(c.json, "GET", "/api/sounds?q=low")
    assert [s["id"] for s in listed["sounds"]] == [got["sound"]["id"]] and listed["total"] == 1
    # the same file again is the same sound
    status, again = r.ask(c.json, "PUT", "/api/upload?name=Low%20tone.wav", good)
    assert status == 200 and not again["new"] and again["sound"]["id"] == got["sound"]["id"]
    assert os.listdir(uploads) == []


def test_kiosk_mode_refuses_what_deletes_or_changes(web):
    r = web(kiosk=True)
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    assert r.ask(c.json, "GET", "/api/session")[1]["kiosk"] is True
    sid = r.d.inst.library.add(np.zeros((RATE, 1), np.float32), RATE, {"kind": "imported", "analysis": {}}, "keep")
    for method, path, body in [
        ("DELETE", "/api/sounds/%s?force=1" % sid, None),
        ("POST", "/api/sounds/%s/rename" % sid, {"name": "other"}),
        ("PUT", "/api/upload?name=x.wav", wav_bytes(np.zeros(100, np.float32))),
        ("POST", "/api/settings", {"section": "sound", "key": "gain", "value": 0.0}),
        ("POST", "/api/presets/save", {"name": "mine"}),
    ]:
        status, got = r.ask(c.json, method, path, body)
        assert status == 403 and "kiosk" in got["error"], (path, got)
    assert r.d.inst.library.meta(sid)["name"] == "keep" and r.d.inst.current.sampler.gain == -6.0


# ---- the engine follows the page -------------------------------------------------------------------


def hf_ratio(x):
    """Energy above 4 kHz over energy below 1 kHz, of the left channel."""
    spec = np.abs(np.fft.rfft(x[:, 0] * np.hanning(len(x)))) ** 2
    f = np.fft.rfftfreq(len(x), 1.0 / RATE)
    return spec[f > 4000].sum() / spec[(f > 50) & (f < 1000)].sum()


def test_a_setting_changed_on_the_page_changes_what_the_engine_plays(web, rig):
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    noise = (0.2 * np.random.default_rng(1).standard_normal(2 * RATE)).astype(np.float32)
    status, got = r.ask(c.json, "PUT", "/api/upload?name=noise.wav", wav_bytes(noise))
    assert status == 200
    assert r.ask(c.json, "POST", "/api/sounds/%s/play" % got["sound"]["id"])[0] == 200
    for key, value in (("loop_mode", "forward"), ("release", 5.0)):
        assert r.ask(c.json, "POST", "/api/settings", {"section": "sound", "key": key, "value": value})[0] == 200
    step_for(r.d, 0.3)
    root = r.d.inst.current.sampler.root
    r.d.host.send(m.Midi(bytes([0x90, root, 100])))
    assert step_until(r.d, lambda: r.d.host.stats["voices"] == 1, 10.0)

    def listen():
        f0 = rig.tap_frames()
        assert step_until(r.d, lambda: rig.tap_frames() - f0 >= RATE // 2, 30.0)
        return rig.read_tap()[f0 + RATE // 8 : f0 + RATE // 2]

    open_ = hf_ratio(listen())
    for key, value in (("filter_type", "lp24"), ("cutoff", 300.0)):
        assert r.ask(c.json, "POST", "/api/settings", {"section": "sound", "key": key, "value": value})[0] == 200
    step_for(r.d, 0.1)
    closed = hf_ratio(listen())
    assert open_ > 1.0 and closed < open_ * 1e-4, (open_, closed)  # 40 dB and more: the filter is on
    r.d.host.send(m.Midi(bytes([0x80, root, 0])))


# ---- downloads --------------------------------------------------------------------------------------


def test_a_preset_downloads_as_wav_and_sfz(web, tmp_path):
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    t = np.arange(RATE) / RATE
    tone = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    status, got = r.ask(c.json, "PUT", "/api/upload?name=A440.wav", wav_bytes(tone, subtype="FLOAT"))
    sid = got["sound"]["id"]
    assert r.ask(c.json, "POST", "/api/sounds/%s/play" % sid)[0] == 200
    assert r.ask(c.json, "POST", "/api/settings", {"section": "sound", "key": "attack", "value": 25.0})[0] == 200
    status, saved = r.ask(c.json, "POST", "/api/presets/save", {"name": "Bright A"})
    assert status == 200 and saved == {"bank": "user", "name": "Bright A"}
    status, listed = r.ask(c.json, "GET", "/api/presets")
    assert {"bank": "user", "name": "Bright A", "sound": sid} in [
        {k: p[k] for k in ("bank", "name", "sound")} for p in listed["presets"]
    ]
    status, headers, data = r.ask(c.request, "GET", "/api/presets/download?bank=user&name=Bright%20A")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert 'filename="Bright_A.zip"' in headers["Content-Disposition"]
    z = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(z.namelist()) == ["Bright_A.sfz", "Bright_A.wav"]
    audio, rate = sf.read(io.BytesIO(z.read("Bright_A.wav")), dtype="float32")
    stored, _, _ = r.d.inst.library.load(sid)
    assert rate == RATE and audio.shape[0] == stored.shape[0]
    assert np.abs(audio.reshape(len(audio), -1)[:, 0] - stored[:, 0]).max() < 1e-6
    sfz = z.read("Bright_A.sfz").decode()
    assert "sample=Bright_A.wav" in sfz and "ampeg_attack=0.025" in sfz
    # the whole bank, and a sound alone
    status, headers, data = r.ask(c.request, "GET", "/api/banks/download?bank=user")
    assert status == 200 and "Bright_A/Bright_A.wav" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    status, headers, data = r.ask(c.request, "GET", "/api/sounds/%s/download" % sid)
    assert status == 200 and sorted(zipfile.ZipFile(io.BytesIO(data)).namelist()) == ["A440.sfz", "A440.wav"]
    # the audio the page plays: 16-bit, the same sound
    status, headers, data = r.ask(c.request, "GET", "/api/sounds/%s/audio" % sid)
    played, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert headers["Content-Type"] == "audio/wav" and sf.info(io.BytesIO(data)).subtype == "PCM_16"
    assert np.abs(played.reshape(len(played), -1)[:, 0] - stored[:, 0]).max() < 1.0 / 32000
    status, peaks = r.ask(c.json, "GET", "/api/sounds/%s/peaks?n=100" % sid)
    assert len(peaks["max"]) == 100 and 0.24 < max(peaks["max"]) <= 0.2501 and -0.2501 <= min(peaks["min"]) < -0.24


def test_deleting_a_sound_a_preset_uses_asks_first(web):
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    sid = r.d.inst.library.add(np.zeros((RATE, 1), np.float32), RATE, {"kind": "imported", "analysis": {}}, "used")
    r.ask(c.json, "POST", "/api/sounds/%s/play" % sid)
    r.ask(c.json, "POST", "/api/presets/save", {"name": "Uses it"})
    status, got = r.ask(c.json, "DELETE", "/api/sounds/%s" % sid)
    assert status == 409 and got["users"] == ["user/Uses it", "the current state"]
    assert r.d.inst.library.meta(sid)
    assert r.ask(c.json, "DELETE", "/api/sounds/%s?force=1" % sid)[0] == 200
    assert r.ask(c.json, "GET", "/api/sounds/%s/audio" % sid)[0] == 400
    for bad in ("../../etc/passwd", "..%2F..%2Fetc", "x" * 300, "%00"):
        status, got = r.ask(c.json, "GET", "/api/sounds/%s/audio" % bad)
        assert status in (400, 404) and got["error"], (bad, status, got)


def test_a_daemon_loop_that_does_not_answer_gives_busy_not_a_hang(web):
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    t0 = time.monotonic()
    status, got = c.json("GET", "/api/status")  # nobody steps the daemon loop now
    assert status == 503 and "did not answer" in got["error"] and time.monotonic() - t0 < 30
    assert r.ask(c.json, "GET", "/api/status")[0] == 200  # and it recovers at once


@pytest.mark.torch
def test_a_prompt_from_the_page_is_generated_with_progress_and_lands_in_the_library(web, rig, tmp_path, tiny_models):
    # 60 steps: long enough for the status polls to see it running on a fast idle machine (3
    # steps were done between two polls there: the page would not have shown progress either)
    r = web(generator=True, cfg=tiny_config(rig, tmp_path, tiny_models, seconds=1.0, steps=60))
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    assert step_until(r.d, lambda: r.d.gen.model_state == "ready", 120.0)
    status, got = r.ask(c.json, "POST", "/api/generate", {"prompt": "a soft bell"})
    assert status == 200
    job, seen = got["job"], set()

    def state():
        st = r.ask(c.json, "GET", "/api/status")[1]
        j = [x for x in st["jobs"] if x["id"] == job][0]
        seen.add((j["state"], j["step"], j["total"]))
        return j["state"]

    end = time.monotonic() + 180
    while state() not in ("done", "failed") and time.monotonic() < end:
        step_for(r.d, 0.05)
    assert state() == "done", seen
    assert [x for x in seen if x[0] == "running" and 0 < x[1] <= x[2]], seen  # progress was visible on the way
    listed = r.ask(c.json, "GET", "/api/sounds?q=bell")[1]
    assert listed["total"] == 1 and listed["sounds"][0]["prompt"] == "a soft bell"
    # refused prompts get the generator's own message
    status, got = r.ask(c.json, "POST", "/api/generate", {"prompt": ""})
    assert status == 400 and got["error"]


def test_bench_web_quick_json():
    from test_cli import cli

    r = cli("bench", "web", "--quick", "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["voices"] == 16 and data["renderer"] == "kernel" and data["library_sounds"] == 200
    for phase in ("quiet", "polled", "quiet_again"):
        assert data["render"][phase]["periods"] > 0 and data["render"][phase]["p99_us"] > 0
    assert data["status_requests"] >= 5 and data["status_rtt_ms"]["median"] > 0
    assert data["library_page_cold_ms"]["median"] > 0 and data["library_page_warm_ms"]["median"] > 0
    assert set(data["aims"]) == {"xruns==0", "polled_p99_within_noise"}


def zip_of(files):
    """A zip from {name: bytes}; a name given as ("link", target) becomes a symbolic link."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            if isinstance(data, tuple):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o120777 << 16  # a symlink, as `zip -y` stores one
                z.writestr(info, data[1])
            else:
                z.writestr(name, data)
    return buf.getvalue()


def test_a_zip_of_an_sfz_and_its_samples_imports_like_a_usb_stick_and_hostile_zips_are_refused(web, tmp_path):
    r = web(max_upload_mb=1.0)
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    t = np.arange(RATE // 4) / RATE
    tone = {hz: wav_bytes((0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)) for hz in (110, 220, 440)}
    sfz = (
        "<group> ampeg_release=0.2\n"
        "<region> sample=samples/low tone.wav lokey=36 hikey=36 pitch_keycenter=36\n"
        "<region> sample=samples/high.wav lokey=38 hikey=38 pitch_keycenter=38\n"
    )
    kit = zip_of(
        {
            "Kit/Two Pads.sfz": sfz,
            "Kit/samples/low tone.wav": tone[110],
            "Kit/samples/high.wav": tone[220],
            "Kit/extra.wav": tone[440],
        }
    )
    status, got = r.ask(c.json, "PUT", "/api/upload?name=kit.zip", kit)
    assert status == 200, got
    assert got["presets"] == [{"bank": "imported", "name": "Two Pads", "zones": 2}]
    assert [s["name"] for s in got["sounds"]] == ["extra"]  # the kit's samples are not loose sounds too
    preset = r.d.inst.preset("imported", "Two Pads")
    assert [(z.lokey, z.hikey) for z in preset.zones] == [(36, 36), (38, 38)]
    # hostile zips: nothing outside the private folder, nothing at all left behind
    uploads = os.path.join(str(tmp_path / "state"), ".uploads")
    before = set(os.listdir(str(tmp_path)))
    for name, data, want in [
        ("slip.zip", zip_of({"../../evil.wav": tone[110]}), 400),
        ("abs.zip", zip_of({"/tmp/evil.wav": tone[110]}), 400),
        ("link.zip", zip_of({"link.wav": ("link", "/etc/passwd")}), 400),
        ("bomb.zip", zip_of({"zeros.wav": b"RIFF" + bytes(20 << 20)}), 413),  # 20 MB from a few KB
        ("many.zip", zip_of({"f%03d.wav" % i: b"x" for i in range(600)}), 413),
        ("empty.zip", zip_of({"readme.txt": b"hello"}), 415),
        ("not.zip", b"PK\x03\x04 but not a zip at all", 415),
    ]:
        assert len(data) < 1 << 20
        status, got = r.ask(c.json, "PUT", "/api/upload?name=" + name, data)
        assert status == want, (name, status, got)
    assert os.listdir(uploads) == [] and set(os.listdir(str(tmp_path))) == before
    assert not os.path.exists("/tmp/evil.wav")


def test_the_system_page_shows_the_log_and_what_doctor_says(web, caplog):
    caplog.set_level(logging.INFO)  # as `promptsynth run` logs
    r = web()
    c = Client(r.port)
    assert r.ask(c.login)[0] == 200
    assert r.ask(c.json, "POST", "/api/settings", {"section": "sound", "key": "cutoff", "value": 5.0})[0] == 400
    sid = r.d.inst.library.add(np.zeros((RATE, 1), np.float32), RATE, {"kind": "imported", "analysis": {}}, "old")
    assert r.ask(c.json, "POST", "/api/sounds/%s/rename" % sid, {"name": "new name"})[0] == 200
    status, logs = r.ask(c.json, "GET", "/api/logs")
    assert status == 200 and any("renamed 'new name'" in line for line in logs["lines"]), logs["lines"][-5:]
    status, doc = r.ask(c.json, "GET", "/api/doctor", timeout=180.0)
    text = "\n".join(doc["lines"])
    assert status == 200 and "config" in text and "web" in text and "PASS" in text, text[-2000:]


def test_web_password_prints_a_hash_that_logs_in_and_refuses_short_ones():
    import subprocess
    import sys

    from promptsynth.web.auth import verify_password

    run = [sys.executable, "-m", "promptsynth", "web", "password"]
    r = subprocess.run(run, input="short\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "at least 8 characters" in r.stderr and "password_hash" not in r.stdout
    r = subprocess.run(run, input="a stage password\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("password_hash = ")][0]
    stored = line.split('"')[1]
    assert stored.startswith("scrypt$") and "a stage password" not in r.stdout
    assert verify_password("a stage password", stored) and not verify_password("a stage passworD", stored)
    assert config.loads('[web]\nenabled = true\npassword_hash = "%s"\n' % stored).web.password_hash == stored
