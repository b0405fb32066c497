#!/usr/bin/env python3
"""Screenshots of every panel page for the README, made by the panel's own `capture` backend,
on an instrument whose engine is not started (the pages need none to draw)."""

import dataclasses
import os
import shutil
import sys
import tempfile

from promptsynth import config
from promptsynth.daemon.run import Daemon
from promptsynth.engine.stats import INDEX
from promptsynth.generator import protocol as gm
from promptsynth.panel.display import Display, factory
from promptsynth.panel.events import Key
from promptsynth.panel.panel import Panel

out = sys.argv[1] if len(sys.argv) > 1 else "docs/screens"
frames = tempfile.mkdtemp()
inst = Daemon(config.replace(config.Config(), "paths", state=tempfile.mkdtemp())).inst
inst.current = dataclasses.replace(
    inst.current, name="Crystal harp", generation={"prompt": "a fluttering harp with crystal echoes"}
)
for key, value in (("loop_mode", "forward"), ("loop_start", 1.2), ("loop_end", 2.4), ("root", 60), ("tune", -12.0)):
    inst.set_sound(key, value)
inst.host.stats.values[INDEX["peak"]] = 0.62
panel = Panel(inst, Display(factory("capture", capture_dir=frames)))
for ch in "a fluttering harp with crystal echoes":
    panel.handle(Key(char=ch))
panel.job = 1
t = 10.0
os.makedirs(out, exist_ok=True)
for i, name in enumerate(panel.order):
    panel.set_page(name)
    if name == "generate":
        inst.gen.record(gm.Progress(1, 12, 25, 4.1, 4.4))
    before = set(os.listdir(frames))
    panel.tick(t)
    t += 1.0
    new = sorted(set(os.listdir(frames)) - before)
    shutil.copy(
        os.path.join(frames, new[-1]), os.path.join(out, "%d-%s.png" % (i + 1, panel.pages[name].title.lower()))
    )
print("\n".join(sorted(os.listdir(out))))
