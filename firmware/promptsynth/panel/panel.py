"""The panel: pages, input routing, the view model, and redraws on change at a capped rate."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from promptsynth import __version__
from promptsynth.panel import sysinfo
from promptsynth.panel.display import HEIGHT, WIDTH, Display
from promptsynth.panel.keyboard import Key
from promptsynth.panel.pages.base import status_bar
from promptsynth.panel.pages.generate import GeneratePage
from promptsynth.panel.pages.gensettings import GenSettingsPage
from promptsynth.panel.pages.library import LibraryPage
from promptsynth.panel.pages.play import PlayPage
from promptsynth.panel.pages.prompt import PromptPage
from promptsynth.panel.pages.sound import SoundPage
from promptsynth.panel.pages.system import SystemPage
from promptsynth.panel.textedit import CharWheel, TextBuffer

POINT_KEYS = ("start", "end", "loop_mode", "loop_start", "loop_end", "crossfade")


@dataclass(frozen=True)
class Turn:
    encoder: int             # 0: select (pages, rows), 1: value
    delta: int


@dataclass(frozen=True)
class Press:
    button: int
    kind: str                # "short" or "long"


@dataclass
class Model:
    """Everything the pages show, taken from the supervisor once per tick."""
    preset: str = ""
    prompt: str = ""
    model: str = ""
    model_state: str = ""
    root: Optional[int] = None
    tune: float = 0.0
    voices: int = 0
    peak: float = 0.0
    progress: Optional[Tuple[int, int, float]] = None
    queued: int = 0
    last_result: str = ""
    error: str = ""
    wave: Optional[Tuple[np.ndarray, np.ndarray]] = None
    markers: Dict[str, int] = field(default_factory=dict)
    system: List[str] = field(default_factory=list)


class Panel:
    def __init__(self, sup, display: Optional[Display] = None, fps: float = 20.0, kiosk: bool = False,
                 prompt_limit: int = 1000, idle_timeout: float = 0.0, attract: str = "", clock=time.monotonic):
        self.sup = sup
        self.display = display or Display(None)
        self.min_interval = 1.0 / fps
        self.kiosk, self.idle_timeout, self.attract = kiosk, idle_timeout, attract
        self.clock = clock
        self.pages = [PlayPage(), PromptPage(), GeneratePage(), GenSettingsPage(), SoundPage(), LibraryPage(),
                      SystemPage()]
        self.page = 0
        self.prompt = TextBuffer("", limit=prompt_limit, refuse_control=True)
        self.name = TextBuffer("", limit=64)
        self.wheel = CharWheel()
        self.spelling = False
        g = sup.cfg.generate
        self.gen = {"model": sup.model_override or sup.cfg.model.id, "steps": g.steps, "guidance": g.guidance,
                    "seconds": g.seconds, "seed": None, "scheduler": g.scheduler, "candidates": g.candidates,
                    "negative": g.negative}
        self.last_seed = None
        self.job: Optional[int] = None
        self.model = Model()
        self.error_until = 0.0
        self.last_input = clock()
        self.last_draw = -1e9
        self.last_image: Optional[bytes] = None
        self.draws = 0
        self._wave_for = None
        self._pending_points: Dict[str, object] = {}
        self._points_due = 0.0
        self._presets = None
        # CC learn: controller number -> Sound page parameter; "learn" waits for the next CC
        self.cc_map: Dict[int, str] = self._load_cc_map()
        self.learning: Optional[str] = None
        self._cc_seen = float(sup.stats["cc_count"])

    # ---- actions the pages call ----------------------------------------------------------------
    def flash(self, message: str, seconds: float = 4.0) -> None:
        self.model.error = message[:40]
        self.error_until = self.clock() + seconds

    def generate(self) -> bool:
        if self.sup.generator is None:
            self.flash("no generator")
            return False
        g = dict(self.gen)
        try:
            self.job = self.sup.generate(self.prompt.text, model=g.pop("model"), **g)
        except Exception as e:        # a refused prompt, a full queue, a missing model: shown, not raised
            self.flash(str(e))
            return False
        self.page = 2
        return True

    def cancel(self) -> bool:
        if self.job is not None and self.sup.generator is not None:
            return self.sup.generator.cancel(self.job)
        return False

    def sampler(self) -> Dict[str, object]:
        return self.sup.current.sampler

    def set_sampler(self, key: str, value) -> None:
        """Change one setting of the sound being played, live."""
        self.sup.current.sampler[key] = value
        if key in POINT_KEYS:                  # a new prepared sound, at most 5 times a second
            self._pending_points[key] = value
            self._points_due = self.clock() + 0.2
        else:
            self.sup.apply_setting(key, value)

    def model_ids(self) -> List[str]:
        from promptsynth.generator.models import MODELS
        return list(MODELS)

    def presets(self):
        """The preset list, re-read at most every 2 s (and after our own changes): no disk reads
        in every redraw."""
        now = self.clock()
        if self._presets is None or now - self._presets[0] > 2.0:
            self._presets = (now, self.sup.presets.list()[0])
        return self._presets[1]

    def suggest_name(self) -> str:
        return self.sup.current.name

    def load_preset(self, p) -> None:
        if not self.sup.load_preset(dataclasses.replace(p, sampler=dict(p.sampler))):
            self.flash("cannot load %s" % p.name)

    def save_preset(self, name: str) -> bool:
        try:
            self._presets = None
            self.sup.save_preset(name)
            return True
        except Exception as e:
            self.flash(str(e))
            return False

    def rename_preset(self, p, name: str) -> bool:
        try:
            self._presets = None
            new = dataclasses.replace(p, name=name)
            self.sup.presets.save(new)
            self.sup.presets.delete(p.bank, p.name)
            return True
        except Exception as e:
            self.flash(str(e))
            return False

    def delete_preset(self, p) -> None:
        try:
            self._presets = None
            self.sup.presets.delete(p.bank, p.name)
        except Exception as e:
            self.flash(str(e))

    # ---- MIDI CC learn ---------------------------------------------------------------------------
    def _cc_path(self) -> str:
        import os
        return os.path.join(self.sup.presets.dir, "..", "ccmap.json")

    def _load_cc_map(self) -> Dict[int, str]:
        import json
        try:
            with open(self._cc_path()) as fh:
                return {int(k): str(v) for k, v in json.load(fh).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def learn(self, key: str) -> None:
        """The next controller that moves controls ``key`` (a Sound page parameter)."""
        self.learning = key
        self.flash("move a knob for %s" % key, 10.0)

    def _cc(self) -> None:
        count = float(self.sup.stats["cc_count"])
        if count == self._cc_seen:
            return
        self._cc_seen = count
        number, value = int(self.sup.stats["cc_number"]), int(self.sup.stats["cc_value"])
        if self.learning is not None:
            self.cc_map = {n: k for n, k in self.cc_map.items() if k != self.learning}
            self.cc_map[number] = self.learning
            self.flash("CC%d -> %s" % (number, self.learning))
            self.learning = None
            from promptsynth.library import atomic
            try:
                atomic.write_json(self._cc_path(), {str(n): k for n, k in self.cc_map.items()})
            except OSError as e:
                self.flash("cc map not saved: %s" % e)
            return
        key = self.cc_map.get(number)
        if key is None:
            return
        from promptsynth.panel.pages.sound import MODES, PARAMS
        for k, step, lo, hi, unit in PARAMS:
            if k == key:
                if k == "loop_mode":
                    self.set_sampler(k, MODES[min(value * len(MODES) // 128, len(MODES) - 1)])
                else:
                    span = min(hi, 30.0) - lo if unit == "s" else hi - lo     # points: the first 30 s
                    v = lo + span * value / 127.0
                    self.set_sampler(k, int(round(v)) if isinstance(step, int) else round(v, 4))

    # ---- input -----------------------------------------------------------------------------------
    def handle(self, ev) -> None:
        self.last_input = self.clock()
        page = self.pages[self.page]
        if isinstance(ev, Key):
            if ev.name.startswith("f") and ev.name[1:].isdigit() and 1 <= int(ev.name[1:]) <= len(self.pages):
                self.page = int(ev.name[1:]) - 1
                return
            if ev.name == "esc" and self.job is not None and self.page != 5:
                self.cancel()
                return
            if page.key(self, ev):
                return
            if ev.char and not isinstance(page, PromptPage):    # typing goes to the prompt
                self.page = 1
                self.pages[1].key(self, ev)
            return
        if isinstance(ev, Turn):
            if page.turn(self, ev.encoder, ev.delta):
                return
            if ev.encoder == 0:
                self.page = (self.page + ev.delta) % len(self.pages)
            return
        if isinstance(ev, Press):
            if ev.button == 1 and ev.kind == "long" and self.page != 0:
                self.page = 0                                     # a long press on select: home
                return
            page.press(self, ev.kind)

    # ---- refresh and drawing ---------------------------------------------------------------------
    def _events(self) -> None:
        from promptsynth.generator import protocol as gm
        for ev in self.sup.take_panel_events():
            if isinstance(ev, gm.Progress) and ev.job_id == self.job:
                self.model.progress = (ev.step, ev.total, ev.remaining)
            elif isinstance(ev, gm.Result):
                self.model.progress = None
                self.last_seed = ev.recipe.get("seed")
                self.model.last_result = "seed %s" % self.last_seed
                if ev.job_id == self.job:
                    self.job = None
            elif isinstance(ev, gm.Failed):
                self.model.progress = None
                if ev.job_id == self.job:
                    self.job = None
                self.flash("%s: %s" % (ev.kind, ev.reason))
            elif isinstance(ev, gm.Queued) and ev.job_id == self.job:
                self.model.progress = (0, self.gen["steps"], 0.0)

    def refresh(self, now: float) -> None:
        sup = self.sup
        m = self.model
        self._events()
        self._cc()
        cur = sup.current
        m.preset = cur.name
        m.prompt = str(cur.generation.get("prompt", "")) if cur.generation else ""
        m.model = self.gen["model"]
        m.model_state = sup.generator.model_state if sup.generator is not None else "off"
        m.root = cur.sampler.get("root")
        m.tune = float(cur.sampler.get("tune", 0.0) or 0.0)
        m.voices = int(sup.stats["voices"])
        m.peak = float(sup.stats["peak"])
        m.queued = len(sup.generator.queue) if sup.generator is not None else 0
        if now > self.error_until:
            m.error = ""
        if self._pending_points and now >= self._points_due:
            sup.reload_current()
            self._pending_points = {}
        if self.page == 4:
            self._wave(cur)
        if self.page == 6:
            m.system = [sysinfo.ip_address(), *sysinfo.temperatures()[:2], sysinfo.memory(),
                        "model %s" % m.model_state, "audio %s" % sup.cfg.audio.device,
                        "midi ports %d" % int(sup.stats["midi_ports"]), "xruns %d" % int(sup.stats["xruns"]),
                        "promptsynth %s" % __version__]
        if self.idle_timeout and self.attract and now - self.last_input > self.idle_timeout:
            self.last_input = now
            try:
                bank, _, name = self.attract.rpartition("/")
                self.load_preset(sup.presets.get(bank or "factory", name))
                self.page = 0
            except Exception as e:
                self.flash(str(e))

    def _wave(self, cur) -> None:
        """Min/max columns of the sound, and the marker positions, for the Sound page."""
        key = (cur.sound, tuple(sorted((k, str(v)) for k, v in cur.sampler.items())))
        if key == self._wave_for:
            return
        self._wave_for = key
        audio = self.sup.current_audio()
        if audio is None or len(audio) == 0:
            self.model.wave, self.model.markers = None, {}
            return
        mono = audio.mean(axis=1) if audio.ndim == 2 else audio
        n = len(mono)
        cols = np.array_split(mono, WIDTH)
        peak = max(float(np.abs(mono).max()), 1e-9)
        self.model.wave = (np.array([c.min() if len(c) else 0.0 for c in cols]) / peak,
                           np.array([c.max() if len(c) else 0.0 for c in cols]) / peak)
        rate = self.sup.cfg.audio.rate
        s = cur.sampler
        marks = {}
        for k in ("start", "end", "loop_start", "loop_end"):
            v = float(s.get(k, 0.0) or 0.0)
            if v > 0 or k == "start":
                marks[k] = min(int(v * rate / n * (WIDTH - 1)), WIDTH - 1)
        if s.get("loop_mode") in (None, "off"):
            marks.pop("loop_start", None)
            marks.pop("loop_end", None)
        self.model.markers = marks

    def flags(self) -> str:
        m = self.model
        if m.error:
            return "ERR"
        if m.progress is not None:
            step, total, _ = m.progress
            return "GEN %d%%" % (100 * step // max(total, 1))
        if m.model_state in ("starting", "loading"):
            return "LOAD"
        return ""

    def render(self) -> Image.Image:
        img = Image.new("1", (WIDTH, HEIGHT), 0)
        d = ImageDraw.Draw(img)
        page = self.pages[self.page]
        status_bar(d, page.title, self.flags())
        page.draw(d, self.model, self)
        if self.model.error:                         # an error is shown over any page
            from promptsynth.panel.pages.base import text
            d.rectangle((0, 53, 127, 63), fill=1)
            text(d, 1, 52, self.model.error[:21], fill=0)
        return img

    def tick(self, now: Optional[float] = None) -> bool:
        """Refresh, and draw if something changed and the frame-rate cap allows; True if drawn."""
        now = self.clock() if now is None else now
        self.refresh(now)
        if now - self.last_draw < self.min_interval:
            return False
        img = self.render()
        raw = img.tobytes()
        if raw == self.last_image and self.display.failures_in_a_row == 0:
            return False
        if self.display.show(img, now):
            self.last_image = raw
            self.last_draw = now
            self.draws += 1
            return True
        return False
