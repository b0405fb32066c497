"""Faults the instrument survives by itself, each through the real processes."""

import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import AudioWatch, step_for, step_until
from promptsynth.bench.rig import wait_for
from promptsynth.daemon.run import Daemon
from promptsynth.engine import messages as m
from promptsynth.library.presets import Preset


def test_sigkill_engine_is_restored_with_the_same_sound(rig, tmp_path):
    """The behaviour: a killed engine comes back by itself with the sound it had, and plays.
    How fast is `promptsynth bench faults` (aim: 2 s); here only that it happens."""
    from promptsynth import config

    cfg = config.replace(rig.config("tap_jack"), "paths", state=str(tmp_path / "state"))
    d = Daemon(cfg, rig.env)
    try:
        d.start(generator=False)
        assert d.host.wait_ready(60.0)
        sound_before = d.inst.current.sound
        old_pid = d.host.proc.pid
        os.kill(old_pid, signal.SIGKILL)
        # back, healthy, and holding a sound again (the engine takes the restored sound a few
        # periods after it reports ready: waited for, never assumed)
        assert step_until(
            d,
            lambda: d.host.restarts and d.host.ready is not None and d.host.healthy() and d.host.stats["sound_id"] > 0,
            60.0,
        ), [n.text for n in d.host.notices]
        assert d.host.proc.pid != old_pid and d.host.restarts == 1
        assert d.inst.current.sound == sound_before
        d.host.send(m.Midi(bytes([0x90, 60, 100])))
        assert step_until(d, lambda: d.host.stats["voices"] == 1, 10.0)  # and it plays
        assert d.health.parts["engine"].state == "ok"
    finally:
        d.stop()


@pytest.mark.torch
def test_sigkill_generator_mid_job_leaves_no_gap_and_the_next_job_works(rig, tmp_path, tiny_models):
    from conftest import tiny_config
    from promptsynth.generator import protocol as gm

    cfg = tiny_config(rig, tmp_path, tiny_models, seconds=2.0, steps=300)
    path = rig.tap_path("tap_jack")
    if os.path.exists(path):
        os.unlink(path)
    d = Daemon(cfg, rig.env)
    seq = [0]

    def events():
        seq[0], evs = d.inst.events_since(seq[0])
        return evs

    try:
        d.start()
        assert d.host.wait_ready(60.0)
        d.host.send(m.Midi(bytes([0x90, 60, 100])))  # a held note, sounding throughout
        # (generous bounds: the daemon's worker runs at nice 10, a tenth of a core on a busy machine)
        assert step_until(d, lambda: d.inst.model_state() == "ready", 400)
        # the daemon's worker runs below the daemon (nice 10 more), so the daemon's own work comes first
        assert os.getpriority(os.PRIO_PROCESS, d.gen.client.proc.pid) == min(
            os.getpriority(os.PRIO_PROCESS, 0) + 10, 19
        )
        job = d.inst.generate("a long job")
        assert step_until(d, lambda: d.gen.running() == job and any(isinstance(e, gm.Progress) for e in events()), 400)
        audio = AudioWatch(rig, d.host)
        os.kill(d.gen.client.proc.pid, signal.SIGKILL)
        lost = []
        assert step_until(
            d,
            lambda: (
                lost.extend(e for e in events() if isinstance(e, gm.Failed) and e.job_id == job and e.kind == "lost")
                or lost
            ),
            30.0,
        )
        step_for(d, 1.0)
        audio.check()  # the held note went on, no gap
        assert d.host.stats["voices"] == 1
        # the next generation works (the generator was restarted)
        job2 = d.inst.generate("after the crash", steps=3)
        got = []
        assert step_until(
            d,
            lambda: (
                got.extend(e for e in events() if isinstance(e, (gm.Result, gm.Failed)) and e.job_id == job2) or got
            ),
            400,
        )
        assert isinstance(got[0], gm.Result), got
    finally:
        d.stop()


def test_systemd_notify_ready_watchdog_stopping(tmp_path):
    sock_path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(0.5)
    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n[audio]\nrt_priority = 0\nlock_memory = false\n' % (tmp_path / "state"))
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="3000000")
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptsynth", "run", "--sim", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    got = []
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not (any("READY=1" in g for g in got) and any("WATCHDOG=1" in g for g in got)):
            try:
                got.append(s.recv(4096).decode())
            except socket.timeout:
                pass
        assert any("READY=1" in g and "STATUS=playing" in g for g in got), got
        assert any("WATCHDOG=1" in g for g in got)
        proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 10
        while time.monotonic() < end and not any("STOPPING=1" in g for g in got):
            try:
                got.append(s.recv(4096).decode())
            except socket.timeout:
                pass
        assert any("STOPPING=1" in g for g in got)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        s.close()


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_midi_flood_of_10000_messages_a_second_for_10_s(rig, tmp_path):
    from promptsynth import config

    cfg = config.replace(rig.config("tap_jack"), "paths", state=str(tmp_path / "state"))
    d = Daemon(cfg, rig.env)
    host = d.host
    kbd = rig.keyboard()
    try:
        d.start(generator=False)
        assert host.wait_ready(60.0)
        assert wait_for(lambda: host.stats["midi_ports"] >= 1, 5.0)
        time.sleep(1.0)
        rss0 = _rss_kb(host.proc.pid)
        x0 = host.stats["xruns"]
        sent = 0
        t0 = time.monotonic()
        rng = np.random.default_rng(0)
        while time.monotonic() - t0 < 10.0:
            for _ in range(100):  # 100 messages every 10 ms
                k = sent % 4
                note = int(rng.integers(36, 96))
                msg = (
                    [0x90, note, 100],
                    [0x80, note, 0],
                    [0xB0, 1, int(rng.integers(0, 128))],
                    [0xE0, 0, int(rng.integers(0, 128))],
                )[k]
                kbd.send_message(msg)
                sent += 1
            time.sleep(max(0.0, t0 + sent / 10000.0 - time.monotonic()))
        assert sent >= 95000
        time.sleep(1.0)
        host.send(m.Panic())
        time.sleep(0.5)
        assert host.alive() and host.healthy()
        assert host.stats["midi_events"] > 0.5 * sent  # JACK's own queue may drop some
        rss1 = _rss_kb(host.proc.pid)
        assert rss1 - rss0 < 8 * 1024, (rss0, rss1)  # memory back to where it was (within 8 MB)
        host.send(m.Midi(bytes([0x90, 60, 100])))
        assert wait_for(lambda: host.stats["voices"] >= 1, 3.0)
        print(
            "flood: %d sent, %d events, xruns %d, rss %d -> %d kB"
            % (sent, host.stats["midi_events"], host.stats["xruns"] - x0, rss0, rss1)
        )
    finally:
        kbd.close_port()
        kbd.delete()
        d.stop()


@pytest.mark.torch
def test_sigkill_the_daemon_after_a_save_children_exit_and_restart_restores(tmp_path):
    import re

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[paths]\nstate = "%s"\n[audio]\nrt_priority = 0\nlock_memory = false\n'
        "[generate]\nseconds = 1.0\nsteps = 3\n" % (tmp_path / "state")
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptsynth", "run", "--sim", "--config", str(cfg), "--prompt", "a dusty tape loop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    from test_cli import read_until

    try:
        # (a generous bound: the daemon's worker runs at nice 10, a tenth of a core on a busy machine)
        lines = read_until(proc, lambda ln: "kept: root" in ln, 500)
        text = "".join(lines)
        assert "kept: root" in text, text
        engine_pid = int(re.search(r"engine started \(pid (\d+)\)", text).group(1))
        from promptsynth.library.presets import PresetStore

        store = PresetStore(str(tmp_path / "state"))
        assert wait_for(
            lambda: (store.load_state()[0] or Preset("x", sound="init")).sound not in (None, "init"), 30.0
        )  # the state names the new sound
        proc.send_signal(signal.SIGKILL)  # no goodbye, no fade
        proc.wait(5)

        def gone(pid):
            try:
                os.kill(pid, 0)
                with open("/proc/%d/status" % pid) as fh:
                    return "zombie" in fh.read()
            except (OSError, ProcessLookupError):
                return True

        assert wait_for(lambda: gone(engine_pid), 5.0), "the engine outlived its supervisor"
    finally:
        if proc.poll() is None:
            proc.kill()
    from promptsynth.library.presets import PresetStore
    from promptsynth.library.sounds import SoundLibrary

    entries, problems = SoundLibrary(str(tmp_path / "state")).entries()
    assert problems == [] and len(entries) == 1
    state, problem = PresetStore(str(tmp_path / "state")).load_state()
    assert problem is None and state.sound == entries[0].id
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptsynth", "run", "--sim", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = read_until(proc, lambda ln: "playable:" in ln, 60)
        assert any("restored the last state" in ln for ln in lines), "".join(lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
