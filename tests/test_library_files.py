"""Files the library writes get the usual umask-respecting mode."""
import json
import os
import stat
import subprocess
import sys

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
    r = subprocess.run([sys.executable, "-c", WRITE_FILES, "%o" % umask, str(folder)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert r.returncode == 0, r.stdout
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_exported_and_library_files_follow_the_umask(tmp_path):
    for umask, want in ((0o022, 0o644), (0o027, 0o640)):    # a shell's umask; the service's UMask=0027
        modes = _modes_under(umask, tmp_path / ("u%o" % umask))
        names = sorted(os.path.basename(p) for p in modes)
        assert "bell.wav" in names and "bell.sfz" in names and any(n.endswith(".json") for n in names), names
        assert len(modes) >= 5, names                   # both exports, the sound and its sidecar, the old file
        for path, mode in modes.items():
            assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == want, (path, oct(mode), oct(want))
        left = [f for f in os.listdir(str(tmp_path / ("u%o" % umask) / "exports")) if f.endswith(".tmp")]
        assert left == []
