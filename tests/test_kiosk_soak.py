"""The kiosk soak (`promptsynth bench kiosk`) as a test: scripted visitors on the real daemon with
the tiny model, through the panel's real input path, each followed by the idle return. Asserts
on what is on disk and on the exact settings after every return; timings are only reported.

And the bug the soak found: a job cancelled (Esc, the idle return) after its last denoising step
came back as a Result, and the instrument played the departed visitor's sound over the attract
preset."""

import dataclasses
import os
import time

import pytest

from promptsynth.generator import protocol as msg
from promptsynth.generator.client import GeneratorClient
from promptsynth.generator.params import GenerationParams, validate


@pytest.mark.torch
def test_twenty_five_visitors_leave_the_disk_bounded_and_the_attract_preset_exactly_restored(rig):
    from promptsynth.bench import kiosk

    keep, visitors = 5, 25
    seen = []
    r = kiosk.run(visitors=visitors, keep=keep, rig=rig, progress=lambda n, s: seen.append(s))
    d = r["disk"]
    assert len(seen) == visitors
    # every visitor's generation made a sound that was kept and played; nothing failed
    assert r["generations_failed"] == 0 and r["failures"] == []
    assert r["sounds_generated"] >= visitors - 1  # visitor 24 walks away while generating
    assert r["actions"]["walked_away"] == 1 and r["actions"]["notes_unheard"] == 0
    assert r["actions"]["refusal_hints"] > 0 and r["actions"]["envelope_edits"] > 0
    # the library never holds more than keep_sounds visitor sounds; once keep_sounds were made
    # it holds exactly that many; no raw generation is left
    stored = [s["stored"] for s in seen]
    assert max(s["sounds"] for s in seen) <= keep
    assert all(s["sounds"] == keep for s in seen if s["stored"] >= keep)
    assert stored[-1] >= keep and seen[-1]["sounds"] == keep
    assert all(s["generated_files"] == 0 for s in seen)
    # the bytes: keep_sounds times the largest sound, plus the presets and the state
    sizes = d["largest_sound_bytes"]
    assert 0 < sizes <= kiosk.DOC_SOUND_BYTES + 4096
    assert max(s["bytes"] for s in seen) <= d["bound_bytes"] == keep * sizes + d["non_sound_bytes_max"]
    assert seen[-1]["bytes"] <= d["bound_bytes"] and d["bounded"] and d["max_within_bound"]
    assert d["non_sound_bytes_max"] < 16384  # state.json, no presets: visitors cannot save
    # every idle return restored the attract preset, the generation settings, the prompt, the
    # lock, the page and state.json exactly
    assert r["restore"] == {"idle_returns": visitors, "mismatches": 0, "first_mismatches": []}
    assert r["ok"] is True


def test_bench_kiosk_is_a_command_that_prints_json_and_exits_by_its_checks(monkeypatch, capsys):
    """The command's wiring (the soak itself is the test above): JSON out, exit 1 when not ok."""
    import json

    from promptsynth import cli
    from promptsynth.bench import kiosk

    calls = []

    def fake_run(quick=False, visitors=None, **kw):
        calls.append((quick, visitors))
        return {"visitors": visitors or 30, "ok": visitors != 7}

    monkeypatch.setattr(kiosk, "run", fake_run)
    assert cli.main(["bench", "kiosk", "--quick", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"visitors": 30, "ok": True}
    assert cli.main(["bench", "kiosk", "--visitors", "7", "--json"]) == 1
    assert calls == [(True, None), (False, 7)]


def _client_running_a_job(tmp_path, out_dir=None):
    """A client whose worker is a pipe end held by the test: the job is running there."""
    import multiprocessing

    c = GeneratorClient("tiny", str(tmp_path), out_dir=out_dir)
    parent, child = multiprocessing.Pipe(duplex=True)
    c.conn = parent
    job = msg.Job(41, "tiny", str(tmp_path / "models" / "tiny"), validate(GenerationParams("a bell")), out_dir, 600.0)
    c.running = (job, time.monotonic())
    return c, child, job


def _result(job, paths=()):
    import numpy as np

    return msg.Result(job.job_id, list(paths), {"prompt": "a bell"}, audio=[np.zeros(160, np.float32)], rate=16000)


def test_a_job_cancelled_after_its_last_step_ends_cancelled_and_its_files_go(tmp_path):
    out = tmp_path / "generated"
    out.mkdir()
    wav, sidecar = out / "gen-1.wav", out / "gen-1.json"
    wav.write_bytes(b"RIFF")
    sidecar.write_text("{}")
    c, worker, job = _client_running_a_job(tmp_path, str(out))
    assert c.cancel(job.job_id) and c.cancel_flag.value == job.job_id
    worker.send(_result(job, [str(wav)]))  # the worker had decoded already: too late for the flag
    evs = c.poll(5.0)
    assert [type(e) for e in evs] == [msg.Failed]
    assert evs[0].job_id == job.job_id and evs[0].kind == "cancelled" and "dropped" in evs[0].reason
    assert c.running is None and os.listdir(out) == []
    # the next job's result is a result as before
    c.running = (dataclasses.replace(job, job_id=42), time.monotonic())
    worker.send(_result(c.running[0]))
    evs = c.poll(5.0)
    assert [type(e) for e in evs] == [msg.Result] and evs[0].job_id == 42


def test_a_result_without_a_cancel_is_untouched_and_a_cancelled_failure_passes_once(tmp_path):
    c, worker, job = _client_running_a_job(tmp_path)
    worker.send(_result(job))
    assert [type(e) for e in c.poll(5.0)] == [msg.Result]
    c.running = (job, time.monotonic())
    assert c.cancel(job.job_id)
    worker.send(msg.Failed(job.job_id, "cancelled", "cancelled"))  # the flag was read in time
    evs = c.poll(5.0)
    assert evs == [msg.Failed(job.job_id, "cancelled", "cancelled")]
    assert job.job_id not in c._cancel_asked
