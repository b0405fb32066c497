"""The generation server's job table and progress gate (server/jobs.py), without Ray: a fake clock
makes the timings exact. The server itself, on a real Ray, is tests/test_server.py's."""

import pytest

from promptsynth.generator.params import GenerationParams
from promptsynth.remote.api import ApiError
from promptsynth.server.jobs import JobTable, ProgressGate


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_progress_goes_out_at_most_ten_times_a_second_and_always_at_the_last_step():
    clock = Clock()
    gate = ProgressGate(0.1, clock)
    gate.begin(7)
    sent = []
    for step in range(1, 31):  # a step every 30 ms
        clock.t += 0.03
        if gate.passes(7, step, 30):
            sent.append(step)
    assert sent == [4, 8, 12, 16, 20, 24, 28, 30]  # from 100 ms after the start, 120 ms apart, then the last


def test_slow_steps_all_go_out_and_jobs_are_gated_apart():
    clock = Clock()
    gate = ProgressGate(0.1, clock)
    sent = []
    for step in (1, 2, 3):  # a step every 500 ms: each is news
        clock.t += 0.5
        sent.append(gate.passes(1, step, 10))
    assert sent == [True, True, True]
    clock.t += 0.01
    assert gate.passes(2, 1, 10)  # another job's first step, 10 ms after job 1's: its own gate
    assert not gate.passes(1, 4, 10)  # job 1 is still within 100 ms of its last
    clock.t += 0.01
    assert not gate.passes(2, 2, 10)
    assert gate.passes(2, 10, 10)  # the last step always goes out


def test_the_queue_is_bounded_with_a_retry_estimate_and_a_job_is_its_instruments_alone():
    table = JobTable(queue=2, replicas=2, keep_s=60.0)
    p = GenerationParams("a bell")
    a = table.add("kiosk-1", "tiny", p)
    table.add("kiosk-1", "tiny", p)
    with pytest.raises(ApiError) as e:
        table.add("kiosk-2", "tiny", p)
    assert e.value.status == 503 and e.value.retry_after == 8  # 5 s a job, 3 ahead over 2 replicas
    assert table.add("kiosk-2", "other", p).number == 3  # each model has its own queue
    assert table.get("kiosk-1", a.id) is a
    with pytest.raises(ApiError) as e:
        table.get("kiosk-2", a.id)
    assert e.value.status == 404


def test_finished_jobs_are_kept_for_their_results_then_dropped():
    clock = Clock()
    table = JobTable(queue=4, replicas=1, keep_s=60.0, clock=clock)
    job = table.add("kiosk-1", "tiny", GenerationParams("a bell"))
    job.add(dict(event="started", batch=1))
    assert job.state == "running"
    job.add(dict(event="failed", kind="cancelled", reason="cancelled"))
    assert job.state == "cancelled" and job.summary()["reason"] == "cancelled"
    job.finished = clock.t
    clock.t += 59.0
    table.expire()
    assert table.get("kiosk-1", job.id) is job
    clock.t += 2.0
    table.expire()
    with pytest.raises(ApiError):
        table.get("kiosk-1", job.id)
