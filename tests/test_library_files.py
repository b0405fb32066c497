"""Files the library writes get the usual umask-respecting mode; a start-up WAV's own `smpl`
loop and root note are used."""

import json
import os
import stat
import struct
import subprocess
import sys

import numpy as np
import soundfile as sf

from conftest import PERIOD, RATE, freq_of, make_sampler, render

WRITE_FILES = r"""
import json, os, sys
import numpy as np
os.umask(int(sys.argv[1], 8))           # before anything is written, as the service's UMask= is
from promptsynth.config import Config
from promptsynth.library import atomic
from promptsynth.library.export import export
from promptsynth.library.presets import sampler_settings
from promptsynth.library.sounds import SoundLibrary
out = sys.argv[2]
audio = (0.1 * np.sin(np.arange(4800) * 0.05)).astype(np.float32)
paths = list(export(os.path.join(out, "exports"), "bell", audio, 48000, sampler_settings(Config().sampler)))
lib = SoundLibrary(os.path.join(out, "state"))
lib.add(np.stack([audio, audio], axis=1), 48000, {"kind": "imported"}, "bell")
for root, _, files in os.walk(os.path.join(out, "state")):
    paths += [os.path.join(root, f) for f in files]
old = os.path.join(out, "old.json")     # an existing private file replaced by a write
with open(old, "w") as fh:
    fh.write("{}")
os.chmod(old, 0o600)
atomic.write_json(old, {"a": 1})
paths.append(old)
print(json.dumps({p: os.stat(p).st_mode for p in paths}))
"""


def _modes_under(umask, folder):
    r = subprocess.run(
        [sys.executable, "-c", WRITE_FILES, "%o" % umask, str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_exported_and_library_files_follow_the_umask(tmp_path):
    for umask, want in ((0o022, 0o644), (0o027, 0o640)):  # a shell's umask; the service's UMask=0027
        modes = _modes_under(umask, tmp_path / ("u%o" % umask))
        names = sorted(os.path.basename(p) for p in modes)
        assert "bell.wav" in names and "bell.sfz" in names and any(n.endswith(".json") for n in names), names
        assert len(modes) >= 5, names  # both exports, the sound and its sidecar, the old file
        for path, mode in modes.items():
            assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == want, (path, oct(mode), oct(want))
        left = [f for f in os.listdir(str(tmp_path / ("u%o" % umask) / "exports")) if f.endswith(".tmp")]
        assert left == []


def _wav_with_own_smpl(path, audio, sr, unity, loop_start, loop_end_inclusive):
    """A WAV whose `smpl` chunk is packed here by hand from the RIFF layout (not by our own writer)."""
    sf.write(str(path), audio, sr, subtype="PCM_16")
    data = bytearray(open(str(path), "rb").read())
    period_ns = int(round(1e9 / sr))
    head = struct.pack("<9I", 0, 0, period_ns, unity, 0, 0, 0, 1, 0)
    loop = struct.pack("<6I", 0, 0, loop_start, loop_end_inclusive, 0, 0)  # type 0 = forward
    body = head + loop
    data += b"smpl" + struct.pack("<I", len(body)) + body
    struct.pack_into("<I", data, 4, len(data) - 8)
    open(str(path), "wb").write(bytes(data))


def test_start_up_wav_loops_at_its_own_smpl_points_with_its_root(tmp_path):
    from promptsynth import config
    from promptsynth.daemon.instrument import startup_sound  # one line to change if it moves

    sr = 44100
    t = np.arange(2 * sr) / sr
    tone = (0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32)  # A3 = MIDI 57
    wav = tmp_path / "pad.wav"
    # loop the second second: 22050 .. 66149 inclusive at 44.1 kHz = 24000 .. 72000 at 48 kHz
    _wav_with_own_smpl(wav, tone, sr, unity=57, loop_start=22050, loop_end_inclusive=66149)
    cfg = config.replace(config.Config(), "sampler", sound=str(wav))  # loop_mode auto, root 60
    snd, problem = startup_sound(cfg)
    assert problem is None and snd.frames == 2 * RATE
    assert (snd.loop_mode, snd.loop_start, snd.loop_end, snd.root) == ("forward", 24000, 72000, 57)
    # through the sampler: the key of the root plays the recorded pitch, and holds past the end
    s = make_sampler()
    s.load(snd)
    s.note_on(57, 127)
    out = render(s, int(3.5 * RATE) // PERIOD)[:, 0]  # 3.5 s of a 2 s sound
    tail = out[3 * RATE : int(3.5 * RATE)]
    assert np.sqrt(np.mean(tail**2)) > 0.1, "silent after the sound's end: the loop was not used"
    assert abs(freq_of(tail) / 220.0 - 1) < 1e-3


def test_a_broken_smpl_loop_is_ignored_and_the_file_still_plays(tmp_path):
    from promptsynth.library.audiofile import read

    sr = 48000
    wav = tmp_path / "odd.wav"
    _wav_with_own_smpl(wav, np.zeros(sr, np.float32), sr, unity=60, loop_start=40000, loop_end_inclusive=90000)
    data = read(str(wav), RATE)
    assert data.loop is None and data.root == 60 and data.audio.shape == (sr, 1)
