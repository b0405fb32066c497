"""`promptsynth serve` as systemd or a terminal runs it: the process starts its own Ray, answers on
127.0.0.1 to a token, and stops cleanly on SIGTERM (exit 0, the port closed, and no crash dump from
Ray's signal handler in the log). The server needs Python 3.10+ (ray 2.60): the Python 3.8 lanes
cannot run it."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytestmark = [
    pytest.mark.torch,
    pytest.mark.skipif(sys.version_info < (3, 10), reason="the generation server needs Python 3.10+ (ray 2.60)"),
]

READY_S = 900.0  # Ray's start and the replica's load, beside two busy loops: minutes


def test_serve_answers_a_token_and_stops_cleanly_on_sigterm(tmp_path):
    from promptsynth.bench.rig import free_port, wait_for
    from promptsynth.server.tokens import new_token

    token, entry = new_token("kiosk-1")
    port = free_port()
    cfg = tmp_path / "server.toml"
    cfg.write_text(
        '[paths]\nstate = "%s"\n[server]\nhost = "127.0.0.1"\nport = %d\nmodels = ["tiny"]\nreplicas = 1\n'
        'gpus_per_replica = 0.0\ncpus_per_replica = 0.5\ndevice = "cpu"\ntokens = ["%s"]\n'
        % (tmp_path / "state", port, entry)
    )
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptsynth", "serve", "--config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, RAY_ADDRESS=""),  # its own Ray, as on a fresh box
        )
    try:
        ready = "serving tiny at http://127.0.0.1:%d/v1" % port
        wait_for(lambda: ready in log.read_text(errors="replace") or proc.poll() is not None, READY_S, step=0.5)
        started = log.read_text(errors="replace")
        assert ready in started, "serve not ready (exit %s):\n%s" % (proc.poll(), started[-3000:])

        url = "http://127.0.0.1:%d/v1/health" % port
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 200
            assert json.loads(r.read())["models"]["tiny"]["replicas"] == 1
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": "Bearer x"}), timeout=60)
        assert refused.value.code == 401

        proc.send_signal(signal.SIGTERM)  # what systemctl stop sends
        assert proc.wait(timeout=300) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert "stopping the generation server" in text
    assert "SIGTERM received" not in text, text[-3000:]  # Ray's crash handler's dump
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens there any more
