"""The service unit: it verifies with systemd's own tool, and says what the design needs."""
import configparser
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNIT = os.path.join(ROOT, "systemd", "promptsynth.service")


def unit():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNIT)
    return cp


def test_unit_passes_systemd_analyze_verify(tmp_path):
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.fail("systemd-analyze is missing: scripts/install-deps.sh installs systemd")
    # verify checks that ExecStart exists: point it at this checkout's entry point
    here = shutil.which("promptsynth") or os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", ".venv",
                                                       "bin", "promptsynth")
    text = open(UNIT).read().replace("/opt/promptsynth/venv/bin/promptsynth", os.path.abspath(here))
    path = tmp_path / "promptsynth.service"
    path.write_text(text)
    r = subprocess.run([exe, "verify", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout


def test_unit_has_what_the_design_needs():
    s = unit()["Service"]
    assert s["Type"] == "notify" and int(s["WatchdogSec"]) > 0 and s["Restart"] == "on-failure"
    assert s["KillMode"] == "mixed" and s["RestartPreventExitStatus"] == "2"
    assert s["User"] == "promptsynth" and set("audio gpio i2c input".split()) <= set(s["SupplementaryGroups"].split())
    assert s["LimitRTPRIO"] and s["LimitMEMLOCK"] == "infinity"
    assert s["StateDirectory"] == "promptsynth" and s["ConfigurationDirectory"] == "promptsynth"
    for key in ("ProtectSystem", "ProtectHome", "NoNewPrivileges", "PrivateTmp"):
        assert key in s
    u = unit()["Unit"]
    assert int(u["StartLimitBurst"]) > 0 and int(u["StartLimitIntervalSec"]) > 0
