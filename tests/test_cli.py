"""The command line: config errors, a run in the simulator ended by SIGTERM, the benchmark."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "promptsynth"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=kw.pop("timeout", 120), **kw)


def test_config_check_names_the_bad_key(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[sampler]\npolyphny = 8\n")
    r = cli("config", "check", "--config", str(p))
    assert r.returncode == 2
    assert "[sampler] polyphny: unknown key" in r.stdout


def test_run_with_a_broken_config_exits_non_zero_at_once(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[audio]\nperiod = 7\n")
    t0 = time.monotonic()
    r = cli("run", "--config", str(p))
    assert r.returncode == 2 and "[audio] period: must be between" in r.stdout
    assert time.monotonic() - t0 < 30


def test_config_example_parses(tmp_path):
    r = cli("config", "example")
    p = tmp_path / "c.toml"
    p.write_text(r.stdout)
    assert cli("config", "check", "--config", str(p)).returncode == 0


def test_run_in_the_simulator_plays_and_stops_on_sigterm(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[paths]\nstate = "%s"\n[audio]\nrt_priority = 0\nlock_memory = false\n' % (tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "promptsynth", "run", "--sim", "--config", str(p)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 60
    try:
        for line in proc.stdout:
            lines.append(line)
            if "playable:" in line or time.monotonic() > deadline:
                break
        assert any("playable:" in ln for ln in lines), "".join(lines)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        lines.append(out)
        assert proc.returncode == 0, "".join(lines)
        assert time.monotonic() - t0 < 5.0
        assert "stopping (signal 15)" in "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.torch
def test_run_in_the_simulator_generates_a_prompt_and_plays_it(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[paths]\nstate = "%s"\n[audio]\nrt_priority = 0\nlock_memory = false\n'
                 '[generate]\nseconds = 1.0\nsteps = 5\n' % (tmp_path / "state"))
    proc = subprocess.Popen([sys.executable, "-m", "promptsynth", "run", "--sim", "--config", str(p),
                             "--prompt", "a glassy \U0001F514 bell"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 180
    try:
        for line in proc.stdout:
            lines.append(line)
            if "sound: " in line and "gen-" in line or time.monotonic() > deadline:
                break
        text = "".join(lines)
        assert "playable:" in text and "model tiny: ready" in text, text
        assert text.index("playable:") < text.index("model tiny: ready")     # playable before the model
        assert "generation 1 done" in text and "sound: " in text, text
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bench_engine_quick_json():
    r = cli("bench", "engine", "--quick", "--json", timeout=300)
    assert r.returncode == 0, r.stdout
    data = json.loads(r.stdout[r.stdout.index("{"):])
    for v in ("8", "16", "32", "64"):
        assert data["render"][v]["p99_us"] > 0
    assert data["note_on_latency"]["to_output_ms"]["n"] == 5
    assert data["paced_run"]["periods"] > 0


@pytest.mark.torch
def test_bench_generate_quick_json():
    r = cli("bench", "generate", "--quick", "--json", timeout=600)
    assert r.returncode == 0, r.stdout
    data = json.loads(r.stdout[r.stdout.index("{"):])
    t = data["tiny"]
    assert t["unet_calls_default_recipe"] == 25 and t["unet_calls_study_recipe"] == 100
    assert t["repeat_same_prompt_new_seed"]["repeat_encoder_calls"] == 0
    assert 0 < t["job_5_12s_default"]["model_s"] < t["job_5_12s_default"]["wall_s"]
