"""The panel: pages by name, the actions pages call, the view model, and redraws on change at a
capped rate.

It talks to the instrument through its API only (``promptsynth.daemon.instrument``): what it
shows comes from there, and every change it makes goes back through it. In kiosk mode every
action method asks the kiosk lock (``panel/kiosk.py``) first, so no page or key gets round it.
Its other jobs live beside it: input routing in ``routing.py``, following generation jobs in
``jobs.py``, messages in ``messages.py``, the operator's PIN entry and the idle return in
``kiosk.py``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, List, Optional, Tuple

from PIL import Image, ImageDraw

from promptsynth.config import ConfigError, SoundSettings, state_dir
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import Exists
from promptsynth.panel import routing
from promptsynth.panel.cclearn import CCLearn
from promptsynth.panel.display import HEIGHT, WIDTH, Display, Screen
from promptsynth.panel.encoder import Speed
from promptsynth.panel.jobs import JobWatch
from promptsynth.panel.kiosk import KioskLock, page_shown, return_to_attract, sound_action
from promptsynth.panel.messages import Messages
from promptsynth.panel.pages.base import Page, message_box, status_bar
from promptsynth.panel.pages.filter import FilterPage
from promptsynth.panel.pages.fx import FxPage
from promptsynth.panel.pages.generate import GeneratePage
from promptsynth.panel.pages.gensettings import GenSettingsPage
from promptsynth.panel.pages.kit import KitPage
from promptsynth.panel.pages.library import LibraryPage
from promptsynth.panel.pages.make import MakePage
from promptsynth.panel.pages.play import PlayPage
from promptsynth.panel.pages.prompt import PromptPage
from promptsynth.panel.pages.sound import SoundPage
from promptsynth.panel.pages.system import SystemPage
from promptsynth.panel.textedit import CharWheel, TextBuffer
from promptsynth.panel.view import Model, refresh, status_flags, waveform

log = logging.getLogger("panel")

PRESETS_EVERY_S = 2.0  # the preset list is re-read at most this often (no disk reads per redraw)


def make_pages() -> Dict[str, Page]:
    """The pages in their order on the panel (F1-F11, the select encoder), by name."""
    return {
        "play": PlayPage(),
        "prompt": PromptPage(),
        "generate": GeneratePage(),
        "settings": GenSettingsPage(),
        "sound": SoundPage(),
        "filter": FilterPage(),
        "fx": FxPage(),
        "library": LibraryPage(),
        "kit": KitPage(),
        "system": SystemPage(),
        "make": MakePage(),
    }


class Panel:
    def __init__(
        self,
        inst,
        display: Optional[Screen] = None,
        fps: float = 20.0,
        kiosk: bool = False,
        prompt_limit: int = 1000,
        idle_timeout: float = 0.0,
        attract: str = "",
        clock=time.monotonic,
        kiosk_pin: str = "",
        unlock_timeout: float = 120.0,
    ):
        self.inst = inst
        self.display: Screen = display or Display(None)
        self.min_interval = 1.0 / fps
        self.kiosk, self.idle_timeout, self.attract = kiosk, idle_timeout, attract
        self.clock = clock
        self.lock = KioskLock(kiosk, kiosk_pin, unlock_timeout, clock)
        self.pages = make_pages()
        self.order: List[str] = list(self.pages)
        self.page = "play"
        self.prompt = TextBuffer("", limit=prompt_limit, refuse_control=True)
        self.name = TextBuffer("", limit=64)
        self.wheel = CharWheel()
        self.spelling = False
        self.model = Model()
        self.messages = Messages(self.model, clock)
        self.jobs = JobWatch(inst, clock, self.messages.flash)
        self.speeds = [Speed(), Speed()]  # encoder acceleration, from each Turn's time
        self.turn_speed = 0.0  # of the turn being handled: 0 slow .. 1 fast (pages read it)
        self.fine = False  # ... and whether it is in fine mode
        self.last_input = clock()
        self.last_draw = -1e9
        self.last_image: Optional[bytes] = None
        self.draws = 0
        self._wave_for: Optional[Tuple[Optional[str], SoundSettings]] = None  # (sound, settings) drawn
        self._presets: Optional[Tuple[float, List[Preset]]] = None  # (read at, presets)
        self.cc = CCLearn(os.path.join(state_dir(inst.cfg), "ccmap.json"), inst.meters().cc_count)

    # ---- pages -----------------------------------------------------------------------------------
    def set_page(self, name: str) -> None:
        """Show the page called ``name`` (norns' set_page). The page left is told (an optional
        ``leave(ui)``), so nothing it armed (a delete confirm, a name being typed) outlives it."""
        if name not in self.pages:
            raise KeyError("no page %r (pages: %s)" % (name, ", ".join(self.order)))
        if name == self.page:
            return
        leave = getattr(self.current_page, "leave", None)
        if leave is not None:
            leave(self)
        self.page = name
        page_shown(self, name)  # the kiosk's PIN entry and the operator's hint

    @property
    def current_page(self) -> Page:
        return self.pages[self.page]

    # ---- actions the pages call ----------------------------------------------------------------
    def may(self, action: str, detail: str = "") -> bool:
        """May ``action`` (a name in kiosk.ACTIONS) be done now? When not (a locked kiosk), the
        panel shows a short hint and the operator's log gets a line; never an error."""
        if self.lock.allows(action):
            return True
        self.flash(self.lock.refusal(action, "%s page%s" % (self.page, ", " + detail if detail else "")), kind="hint")
        return False

    def flash(self, message: str, seconds: Optional[float] = None, kind: str = "error") -> None:
        """Show ``message`` over any page: ``kind`` "error" (inverted, ERR in the top bar),
        "hint" (what to do instead: "hold to save") or "info" (what happened: "cancelled")."""
        self.messages.flash(message, seconds, kind)

    @property
    def job(self) -> Optional[int]:
        """The last job this panel submitted, until it ends (``jobs`` follows every job)."""
        return self.jobs.mine

    @job.setter
    def job(self, job_id: Optional[int]) -> None:
        self.jobs.mine = job_id

    def generate(self) -> bool:
        try:
            self.jobs.submit(self.prompt.text)
        except Exception as e:  # a refused prompt, a full queue, no generator: shown, not raised
            self.flash(str(e))
            return False
        self.set_page("generate")
        return True

    def sound_seconds(self) -> Optional[float]:
        """The length of the sound playing (start and loop points move within it)."""
        audio = self.inst.current_audio()
        return None if audio is None or not len(audio) else len(audio) / float(self.inst.cfg.audio.rate)

    @property
    def gen(self):
        return self.inst.gen_settings

    def set_gen(self, key: str, value) -> None:
        if not self.may("settings", key):
            return
        try:
            self.inst.set_generation(key, value)
        except ConfigError as e:
            self.flash(str(e))

    def sampler(self):
        return self.inst.current.sampler

    def set_sampler(self, key: str, value) -> None:
        """Change one setting of the sound being played, live."""
        if not self.may(sound_action(key), key):
            return
        self._set_sound(key, value)

    def _set_sound(self, key: str, value) -> None:
        try:
            self.inst.set_sound(key, value)
        except ConfigError as e:
            self.flash(str(e))

    def model_ids(self) -> List[str]:
        return self.inst.model_ids()

    def forget_presets(self) -> None:
        """The preset list changed: read it again when next asked."""
        self._presets = None

    def presets(self) -> List[Preset]:
        now = self.clock()
        if self._presets is None or now - self._presets[0] > PRESETS_EVERY_S:
            self._presets = (now, self.inst.presets())
        return self._presets[1]

    def suggest_name(self) -> str:
        return self.inst.current.name

    def load_preset(self, p: Preset) -> None:
        if not self.may("load", p.name):
            return
        if not self.inst.load_preset(p):
            self.flash("cannot load %s" % p.name)

    def _library_action(self, action, *args) -> bool:
        self.forget_presets()
        try:
            action(*args)
            return True
        except Exception as e:  # a refused name, a full or read-only disk: shown, not raised
            self.flash(str(e))
            return False

    def save_preset(self, name: str, overwrite: bool = False) -> Optional[bool]:
        """True: saved. False: refused (and said why). None: a preset of that name exists, so
        ask, then call again with ``overwrite`` (nothing is replaced without a yes)."""
        if not self.may("save", name):
            return False
        self.forget_presets()
        try:
            self.inst.save_preset(name, overwrite=overwrite)
            return True
        except Exists:
            return None
        except Exception as e:  # a refused name, a full or read-only disk: shown, not raised
            self.flash(str(e))
            return False

    def rename_preset(self, p: Preset, name: str) -> bool:
        return self.may("rename", p.name) and self._library_action(self.inst.rename_preset, p, name)

    def delete_preset(self, p: Preset) -> bool:
        return self.may("delete", p.name) and self._library_action(self.inst.delete_preset, p)

    def learn(self, key: str) -> None:
        """MIDI learn: the next controller that moves controls ``key``."""
        if not self.may("learn", key):
            return
        self.cc.learn(key)
        self.flash("move a knob for %s" % key, 10.0, kind="hint")

    # ---- input ---------------------------------------------------------------------------------
    def handle(self, ev) -> None:
        """One input event (``Key``, ``Turn``, ``Press``): see ``routing.py``."""
        routing.handle(self, ev)

    # ---- refresh and drawing ---------------------------------------------------------------------
    def _cc(self) -> None:
        m = self.inst.meters()
        try:
            key, value = self.cc.feed(m.cc_count, m.cc_number, m.cc_value)
        except OSError as e:
            self.flash("cc map not saved: %s" % e)
            return
        if key == "learned":
            self.flash("CC%d -> %s" % (m.cc_number, value), kind="info")
        elif key is not None:
            self._set_sound(key, value)  # a knob the operator bound (learning is theirs alone)

    def refresh(self, now: float) -> None:
        self.jobs.follow(self.model)
        self._cc()
        refresh(self.model, self.inst, self.page)
        self.messages.tick(now)  # a part that just stopped working is said once; old ones end
        if self.page == "sound":
            cur = self.inst.current
            key = (cur.sound, cur.sampler)
            if key != self._wave_for:
                self._wave_for = key
                self.model.wave, self.model.markers = waveform(
                    self.inst.current_audio(), cur.sampler, self.inst.cfg.audio.rate
                )
        self.lock.tick(now)
        if self.idle_timeout and now - self.last_input > self.idle_timeout:
            self.last_input = now
            log.info("idle for %.0f s: back to the attract preset", self.idle_timeout)
            return_to_attract(self)

    def flags(self) -> str:
        """The top bar's right side (GEN 40% +3, ERR, LOAD, !KEYBOA): see ``view.status_flags``."""
        return status_flags(self.model)

    def render(self) -> Image.Image:
        img = Image.new("1", (WIDTH, HEIGHT), 0)
        d = ImageDraw.Draw(img)
        page = self.current_page
        page.draw(d, self.model, self)
        status_bar(d, page.title, self.flags(), page.position() or "")  # a list's place: SOUND 9/17
        if self.model.message:  # a message is shown over any page
            message_box(d, self.model.message, self.model.message_kind, self.clock() - self.messages.at)
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
