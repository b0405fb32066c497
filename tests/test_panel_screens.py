"""The README's screenshots of every page are the panel's own rendering of a fixed scene: this
test renders them and fails when docs/screens/*.png differ (a page changed: look, then run it
with PROMPTSYNTH_UPDATE_SCREENS=1 to write them again)."""

import dataclasses
import os

import numpy as np
from PIL import Image

from promptsynth import config
from promptsynth.daemon.run import Daemon
from promptsynth.engine.stats import INDEX
from promptsynth.generator import protocol as gm
from promptsynth.panel import sysinfo, view
from promptsynth.panel.display import Display, factory
from promptsynth.panel.events import Key
from promptsynth.panel.panel import Panel

SCREENS = os.path.join(os.path.dirname(__file__), "..", "docs", "screens")
SCALE = 2  # pixels doubled, so the README shows them at a readable size


def scene(tmp_path, monkeypatch):
    """An instrument playing a looped harp, a job running with two waiting, fixed system facts."""
    for name, value in (("ip_address", "192.168.1.20"), ("memory", "mem 3.1/31.0G")):
        monkeypatch.setattr(sysinfo, name, lambda v=value: v)
    monkeypatch.setattr(sysinfo, "temperatures", lambda: ["cpu 41.5C", "gpu 39.0C"])
    monkeypatch.setattr(view, "__version__", "1.0")
    t = [10.0]
    inst = Daemon(config.replace(config.Config(), "paths", state=str(tmp_path)), clock=lambda: t[0]).inst
    inst.current = dataclasses.replace(
        inst.current, name="Crystal harp", generation={"prompt": "a fluttering harp with crystal echoes"}
    )
    for key, value in (
        ("loop_mode", "forward"),
        ("loop_start", 1.2),
        ("loop_end", 2.4),
        ("tune", -12.0),
        ("filter_type", "lp24"),
        ("cutoff", 1200.0),
        ("resonance", 70.0),
        ("delay_mix", 30.0),
        ("reverb_mix", 25.0),
    ):
        inst.set_sound(key, value)
    inst.host.stats.values[INDEX["peak"]] = 0.62
    monkeypatch.setattr(inst, "queued", lambda: 2)
    panel = Panel(inst, Display(factory("dummy")), clock=lambda: t[0])
    for ch in "a fluttering harp with crystal echoes":
        panel.handle(Key(char=ch))
    for i in (1, 2, 3):
        inst.gen.record(gm.Queued(i, i - 1))
    inst.gen.record(gm.Progress(1, 12, 25, 4.1, 4.4))
    panel.pages["sound"].sel = 8  # attack: the list scrolled
    panel.pages["settings"].sel = 1
    panel.pages["filter"].sel = 1  # the cutoff
    panel.pages["fx"].sel = 3  # the delay
    panel.pages["library"].sel = 2
    # a drum kit being made: two pads done, the third at step 12 of 25, the rest waiting
    from promptsynth.library.kits import KitJob, load_kit

    ids = iter(range(100, 200))
    inst.kit = KitJob(load_kit("drums"), "808", lambda prompt, seed: next(ids), lambda job: None, lambda: 3, seed=1)
    inst.kit.pump()
    inst.kit.finished(100, ["kick"])
    inst.kit.finished(101, ["rim"])
    inst.kit.progress(102, 12, 25)
    # variations of the harp coming in: one ready, one kept, one being made
    from promptsynth.daemon.transform import Variation, Variations

    inst.variations = Variations(
        of=inst.current,
        items=[Variation(11, 41, 3.5, "ready"), Variation(12, 42, 3.9, "kept"), Variation(13, 43, 3.2, "waiting")],
    )
    panel.pages["make"].sel = 2  # from sound
    return panel


def test_readme_screenshots_are_the_pages_as_rendered(tmp_path, monkeypatch):
    panel = scene(tmp_path, monkeypatch)
    update = os.environ.get("PROMPTSYNTH_UPDATE_SCREENS") == "1"
    stale = []
    for i, name in enumerate(panel.order):
        panel.set_page(name)
        panel.refresh(panel.clock())
        img = panel.render().resize((128 * SCALE, 64 * SCALE), Image.NEAREST)
        path = os.path.join(SCREENS, "%d-%s.png" % (i + 1, name))
        if update:
            img.save(path, optimize=True)
            continue
        if not os.path.exists(path):
            stale.append(name + " (missing)")
            continue
        want = np.array(Image.open(path).convert("1"), dtype=np.uint8)
        if not np.array_equal(want, np.array(img, dtype=np.uint8)):
            stale.append(name)
    assert not stale, "docs/screens differ from the pages: %s (PROMPTSYNTH_UPDATE_SCREENS=1 writes them)" % stale
    panel_files = [f for f in os.listdir(SCREENS) if not f.startswith("web-")]  # web-*: the browser tests
    assert sorted(panel_files) == sorted("%d-%s.png" % (i + 1, n) for i, n in enumerate(panel.order))
