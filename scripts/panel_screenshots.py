#!/usr/bin/env python3
"""Screenshots of every panel page for the README, made by the panel's own `capture` backend."""
import os
import shutil
import sys
import tempfile

from promptsynth import config
from promptsynth.generator import protocol as gm
from promptsynth.panel.display import Display, factory
from promptsynth.panel.keyboard import Key
from promptsynth.panel.panel import Panel
from promptsynth.supervisor import Supervisor

out = sys.argv[1] if len(sys.argv) > 1 else "docs/screens"
state = tempfile.mkdtemp()
frames = tempfile.mkdtemp()
sup = Supervisor(config.replace(config.Config(), "paths", state=state))
sup.current.generation = {"prompt": "a fluttering harp with crystal echoes"}
sup.current.name = "Crystal harp"
sup.current.sampler.update(loop_mode="forward", loop_start=1.2, loop_end=2.4, root=60, tune=-12.0)
sup.stats.values[6] = 0.62
panel = Panel(sup, Display(factory("capture", capture_dir=frames)))
for ch in "a fluttering harp with crystal echoes":
    panel.handle(Key(char=ch))
panel.job = 1
t = 10.0
os.makedirs(out, exist_ok=True)
for i, page in enumerate(panel.pages):
    panel.page = i
    if i == 2:
        sup._panel_events.append(gm.Progress(1, 12, 25, 4.1, 4.4))
    before = set(os.listdir(frames))
    panel.tick(t)
    t += 1.0
    new = sorted(set(os.listdir(frames)) - before)
    shutil.copy(os.path.join(frames, new[-1]), os.path.join(out, "%d-%s.png" % (i + 1, page.title.lower())))
print("\n".join(sorted(os.listdir(out))))
