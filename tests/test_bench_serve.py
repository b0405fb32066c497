"""`promptsynth bench serve --quick --json`: the generation server's figures, measured through a
real Ray Serve on 127.0.0.1 (a busy machine slows them: only their shape and that every job was
made are checked here; docs/benchmarks.md has the figures)."""

import json
import subprocess
import sys

import pytest

from promptsynth.config import Config

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(sys.version_info < (3, 10), reason="the generation server needs Python 3.10+ (ray 2.60)"),
]


@pytest.mark.timeout(2700)  # a loaded machine slows Ray's start, each replica's and every job several times over
def test_bench_serve_quick_json():
    cmd = [sys.executable, "-W", "ignore", "-m", "promptsynth", "bench", "serve", "--quick", "--json"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=2600)
    except subprocess.TimeoutExpired as e:  # say where it was: the bench's progress lines
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else str(e.stderr or "")
        progress = [x for x in err.splitlines() if x.startswith("bench serve:")]
        raise AssertionError("bench serve ran past 2600 s: %s" % progress) from None
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(r.stdout)  # stdout is the JSON alone (Ray's own news go to stderr)
    assert set(data["deploy_s"]) == {"replicas_1_batch_4", "replicas_1_batch_1", "replicas_2_batch_4"}
    for key in data["deploy_s"]:
        for n in ("1", "4"):
            run = data["runs"][key][n]
            assert run["failed"] == 0 and run["sounds"] == int(n) * data["jobs_per_instrument"]
            assert run["sounds_per_min"] > 0 and run["latency_p99_s"] >= run["latency_p50_s"] > 0
    assert data["batching_gain_4"] > 0 and data["replica_scaling_4"] > 0
    # the aim's job is the instrument's default one; the short job is measured beside it
    default = {"seconds": Config().generate.seconds, "steps": Config().generate.steps}
    assert data["remote_overhead"]["job"] == default and data["remote_overhead_short"]["job"] != default
    for o in (data["remote_overhead"], data["remote_overhead_short"]):
        assert o["local_median_s"] > 0 and o["pipeline_median_s"] > 0 and o["remote_median_s"] > 0
        # the serving layer's share is part of the remote job's time, measured from the same jobs
        assert 0 < o["serving_median_s"] <= o["serving_max_s"] and o["serving_median_s"] < o["remote_median_s"]
        assert abs(o["overhead_s"] - (o["remote_median_s"] - o["local_median_s"])) <= 0.0015
    # a job of 4x the length and 2.5x the steps takes longer on both paths (the figures are real)
    assert data["remote_overhead"]["local_median_s"] > data["remote_overhead_short"]["local_median_s"]
    assert data["remote_overhead"]["remote_median_s"] > data["remote_overhead_short"]["remote_median_s"]
    assert data["aims"]["remote_overhead_pct<=10"] == (data["remote_overhead"]["overhead_pct"] <= 10.0)
