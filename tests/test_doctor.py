"""`promptsynth doctor`: each part checked; failures say the fix; exit 1 on any failure."""

import json
import subprocess
import sys

from promptsynth import doctor


def by_part(checks):
    return {c.part: c for c in checks}


def test_missing_audio_device_fails_with_the_fix(rig, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n[audio]\ndevice = "hw:7,0"\n[model]\nid = "tiny"\n' % (tmp_path / "s"))
    c = by_part(doctor.run(str(cfg)))
    assert c["config"].status == "pass"
    assert c["audio device"].status == "fail" and "hw:7,0" in c["audio device"].detail
    assert "aplay -L" in c["audio device"].fix
    assert c["state dir"].status == "pass"


def test_a_working_pcm_passes_and_a_broken_config_fails(rig, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n[audio]\ndevice = "tap_raw"\nformat = "FLOAT_LE"\n' % (tmp_path / "s"))
    c = by_part(doctor.run(str(cfg)))
    assert c["audio device"].status == "pass" and "FLOAT_LE" in c["audio device"].detail
    bad = tmp_path / "bad.toml"
    bad.write_text("[audio]\nrate = 1\n")
    checks = doctor.run(str(bad))
    assert checks[0].status == "fail" and "[audio] rate" in checks[0].detail


def test_cli_json_and_exit_code(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n[audio]\ndevice = "hw:7,0"\n' % (tmp_path / "s"))
    r = subprocess.run(
        [sys.executable, "-m", "promptsynth", "doctor", "--json", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    rows = json.loads(r.stdout)
    assert {"part", "status", "detail", "fix"} <= set(rows[0])
    assert any(row["part"] == "audio device" and row["status"] == "fail" for row in rows)


def test_midi_ports_are_judged_by_the_rule_the_instrument_uses(rig, tmp_path):
    from engine_harness import JackMidiPort

    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n[midi]\napi = "jack"\nport = ""\n' % (tmp_path / "s"))
    software = JackMidiPort("seqapp")  # a sequencer: plays through the virtual port
    try:
        c = by_part(doctor.run(str(cfg)))["midi ports"]
        assert c.status == "warn" and "no hardware MIDI port" in c.detail and "seqapp:out" in c.detail
        keys = JackMidiPort("usbkeys", physical=True)  # flagged physical, as JACK's ALSA backend does
        try:
            c = by_part(doctor.run(str(cfg)))["midi ports"]
            assert c.status == "pass" and c.detail == "usbkeys:out"
        finally:
            keys.close()
    finally:
        software.close()


def test_every_config_error_is_listed_and_alsa_noise_is_hidden(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[audio]\nrate = 1\nformat = "U8"\n[panel]\nfps = 0.0\n')
    checks = doctor.run(str(bad))
    assert [c.part for c in checks] == ["config"] * 3 and all(c.status == "fail" for c in checks)
    assert {"[audio] rate", "[audio] format", "[panel] fps"} == {c.detail.split(": ")[1] for c in checks}
    # a part that reaches libasound before the audio check (libasound prints its own lines on
    # stderr for a PCM that does not exist): doctor's output has none of them
    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n[audio]\ndevice = "no_such_pcm"\n' % (tmp_path / "s"))
    code = (
        "import sys\n"
        "from promptsynth import doctor\n"
        "def noisy(cfg):\n"
        "    import alsaaudio\n"
        "    try:\n"
        "        alsaaudio.PCM(device='no_such_pcm_either')\n"
        "    except alsaaudio.ALSAAudioError:\n"
        "        pass\n"
        "    return []\n"
        "doctor.CHECKS = (noisy,) + doctor.CHECKS\n"
        "checks = doctor.run(sys.argv[1])\n"
        "print([c.part for c in checks if c.status == 'fail'])\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True, text=True, timeout=120)
    assert "audio device" in r.stdout, r.stderr
    assert "ALSA lib" not in r.stderr, r.stderr


def test_the_renderer_in_use_is_named_and_a_missing_kernel_is_a_warning_with_the_fix(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[paths]\nstate = "%s"\n' % (tmp_path / "s"))
    c = by_part(doctor.run(str(cfg)))["renderer"]
    assert (c.status, c.detail) == ("pass", "compiled render kernel")
    (tmp_path / "n.toml").write_text('[paths]\nstate = "%s"\n[audio]\nrenderer = "numpy"\n' % (tmp_path / "s"))
    c = by_part(doctor.run(str(tmp_path / "n.toml")))["renderer"]
    assert c.status == "pass" and "numpy" in c.detail
    monkeypatch.setitem(sys.modules, "promptsynth.engine.kernel._render", None)  # as if never built
    c = by_part(doctor.run(str(cfg)))["renderer"]
    assert c.status == "warn" and "render kernel not built" in c.detail and "build-essential" in c.fix
