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
SYSTEM_PATHS = (
    "/opt/promptsynth",
    "/opt/promptsynth/venv",
    "/etc/promptsynth/constraints.txt",
    "/etc/promptsynth/config.toml",
    "/etc/systemd/system/promptsynth.service",
    "/etc/udev/rules.d/99-promptsynth.rules",
)


def _state(path):
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size, st.st_mode
    except FileNotFoundError:
        return None


def test_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    tmp = tmp_path / "tmp"  # the script's own temporary files must not be left behind either
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))
    before = {p: _state(p) for p in SYSTEM_PATHS}
    r = sh("bash", SCRIPT, "--dry-run", "--no-fetch", env=env)
    assert r.returncode == 0, r.stdout
    for needle in (
        "apt-get install",
        "useradd --system",
        "udevadm trigger",
        "venv --system-site-packages",
        "constraints.txt",
        "promptsynth.service",
        "systemctl enable",
    ):
        assert needle in r.stdout, needle
    assert {p: _state(p) for p in SYSTEM_PATHS} == before
    assert os.listdir(str(tmp)) == []
    # the service user gets every group the unit asks for (a group missing there stops the unit)
    unit_groups = [
        ln.split("=", 1)[1].split()
        for ln in open(os.path.join(ROOT, "systemd", "promptsynth.service"))
        if ln.startswith("SupplementaryGroups=")
    ][0]
    user_line = [ln for ln in r.stdout.splitlines() if "useradd --system" in ln or "usermod -a -G" in ln][0]
    assert set(user_line.split("--groups" if "useradd" in user_line else "-G")[1].split()[0].split(",")) == set(
        unit_groups
    ), (user_line, unit_groups)
    for g in unit_groups:  # each one exists here, or is created
        assert (
            subprocess.run(["getent", "group", g], stdout=subprocess.DEVNULL).returncode == 0
            or "groupadd --system %s" % g in r.stdout
        ), g
    # into a prefix: every file is announced and none is written, not even the folder
    prefix = tmp_path / "root"
    r = sh("bash", SCRIPT, "--dry-run", "--prefix", str(prefix), "--no-fetch", env=env)
    assert r.returncode == 0, r.stdout
    for rel in (
        "etc/systemd/system/promptsynth.service",
        "etc/promptsynth/config.toml",
        "etc/udev/rules.d/99-promptsynth.rules",
    ):
        assert "+ write %s" % os.path.join(str(prefix), rel) in r.stdout, rel
    assert "venv --system-site-packages %s" % os.path.join(str(prefix), "opt/promptsynth/venv") in r.stdout
    assert not prefix.exists(), sorted(str(p) for p in prefix.rglob("*"))
    assert os.listdir(str(tmp)) == []


def test_prefix_install_is_idempotent(tmp_path):
    prefix = str(tmp_path / "root")
    first = sh("bash", SCRIPT, "--prefix", prefix, "--no-fetch")
    assert first.returncode == 0, first.stdout
    for rel in (
        "etc/promptsynth/config.toml",
        "etc/promptsynth/constraints.txt",
        "etc/systemd/system/promptsynth.service",
        "etc/udev/rules.d/99-promptsynth.rules",
        "opt/promptsynth/venv/bin/promptsynth",
    ):
        assert os.path.exists(os.path.join(prefix, rel)), rel
    with open(os.path.join(prefix, "etc/promptsynth/constraints.txt")) as a:
        # no JetPack torch on this python3: the torch 2.1 pins, with the web page's written in
        assert a.read() == flat_constraints("jetpack-5.1.2.txt")
    cfg = os.path.join(prefix, "etc/promptsynth/config.toml")
    with open(cfg, "a") as fh:
        fh.write("# edited by the user\n")
    second = sh("bash", SCRIPT, "--prefix", prefix, "--no-fetch")
    assert second.returncode == 0, second.stdout
    assert "wrote" not in second.stdout  # nothing rewritten the second time
    assert open(cfg).read().endswith("# edited by the user\n")  # the user's config is kept
    r = sh(os.path.join(prefix, "opt/promptsynth/venv/bin/promptsynth"), "--version")
    assert r.returncode == 0 and "promptsynth" in r.stdout


def flat_constraints(name):
    """A constraints file with its ``-c FILE`` lines replaced by that file's lines."""
    out = []
    with open(os.path.join(ROOT, "constraints", name)) as fh:
        for line in fh:
            if line.startswith("-c "):
                with open(os.path.join(ROOT, "constraints", line[3:].strip())) as inc:
                    out.append(inc.read())
            else:
                out.append(line)
    return "".join(out)


@pytest.mark.parametrize(
    "torch_version,constraints",
    [("2.0.0+nv23.05", "jetpack-5.1.1.txt"), ("2.1.0a0+41361538.nv23.06", "jetpack-5.1.2.txt")],
)
def test_the_constraints_follow_the_installed_torch(tmp_path, torch_version, constraints):
    # a python3 whose torch is NVIDIA's wheel of that JetPack (the versions those wheels report)
    shim = tmp_path / "bin" / "python3"
    shim.parent.mkdir()
    shim.write_text(
        '#!/bin/sh\ncase "$*" in *"import torch"*) echo "%s"; exit 0 ;; esac\nexec "%s" "$@"\n'
        % (torch_version, shutil.which("python3"))
    )
    shim.chmod(0o755)
    env = dict(os.environ, PATH="%s:%s" % (shim.parent, os.environ["PATH"]))
    r = sh("bash", SCRIPT, "--dry-run", "--prefix", str(tmp_path / "root"), "--no-fetch", env=env)
    assert r.returncode == 0, r.stdout
    assert "torch %s" % torch_version in r.stdout and "constraints/%s\n" % constraints in r.stdout
    with open(os.path.join(ROOT, "constraints", constraints)) as fh:
        pins = fh.read()
    assert "accelerate==" in pins and "transformers==4.46.3" in pins
