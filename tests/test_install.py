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


# what a real install writes on the system, for the dry run to leave as it found it
SYSTEM_PATHS = ("/opt/promptsynth", "/opt/promptsynth/venv", "/etc/promptsynth/constraints.txt",
                "/etc/promptsynth/config.toml", "/etc/systemd/system/promptsynth.service",
                "/etc/udev/rules.d/99-promptsynth.rules")


def _state(path):
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size, st.st_mode
    except FileNotFoundError:
        return None


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    tmp = tmp_path / "tmp"          # the script's own temporary files must not be left behind either
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    before = {p: _state(p) for p in SYSTEM_PATHS}
    r = sh("bash", SCRIPT, "--dry-run", "--no-fetch", env=env)
    assert r.returncode == 0, r.stdout
    for needle in ("apt-get install", "useradd --system", "udevadm trigger", "venv --system-site-packages",
                   "constraints.txt", "promptsynth.service", "systemctl enable"):
        assert needle in r.stdout, needle
    assert {p: _state(p) for p in SYSTEM_PATHS} == before
    assert os.listdir(str(tmp)) == []
    # into a prefix: every file is announced and none is written, not even the folder
    prefix = tmp_path / "root"
    r = sh("bash", SCRIPT, "--dry-run", "--prefix", str(prefix), "--no-fetch", env=env)
    assert r.returncode == 0, r.stdout
    for rel in ("etc/systemd/system/promptsynth.service", "etc/promptsynth/config.toml",
                "etc/udev/rules.d/99-promptsynth.rules"):
        assert "+ write %s" % os.path.join(str(prefix), rel) in r.stdout, rel
    assert "venv --system-site-packages %s" % os.path.join(str(prefix), "opt/promptsynth/venv") in r.stdout
    assert not prefix.exists(), sorted(str(p) for p in prefix.rglob("*"))
    assert os.listdir(str(tmp)) == []


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
