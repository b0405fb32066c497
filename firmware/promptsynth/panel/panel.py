"""The panel: pages by name, input routing, the view model, and redraws on change at a capped rate.

It talks to the instrument through its API only (``promptsynth.daemon.instrument``): what it
shows comes from there, and every change it makes goes back through it. In kiosk mode every
action method asks the kiosk lock (``panel/kiosk.py``) first, so no page or key gets round it.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Dict, List, Optional, Tuple

from PIL import Image, ImageDraw

from promptsynth.config import ConfigError, SoundSettings, state_dir
from promptsynth.generator import protocol as gm
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import Exists
from promptsynth.panel.cclearn import CCLearn
from promptsynth.panel.display import HEIGHT, WIDTH, Display, Screen
from promptsynth.panel.encoder import Speed
from promptsynth.panel.events import Key, Press, Turn
from promptsynth.panel.kiosk import KioskLock, sound_action
from promptsynth.panel.pages.base import Page, message_box, status_bar
from promptsynth.panel.pages.generate import GeneratePage
from promptsynth.panel.pages.gensettings import GenSettingsPage
from promptsynth.panel.pages.library import LibraryPage
from promptsynth.panel.pages.play import PlayPage
from promptsynth.panel.pages.prompt import PromptPage
from promptsynth.panel.pages.sound import SoundPage
from promptsynth.panel.pages.system import SystemPage
from promptsynth.panel.textedit import CharWheel, TextBuffer
from promptsynth.panel.view import Model, refresh, waveform

log = logging.getLogger("panel")

PRESETS_EVERY_S = 2.0  # the preset list is re-read at most this often (no disk reads per redraw)
ESC_AGAIN_S = 2.0  # a second Esc this soon after one that cancelled the running job clears the queue
MESSAGE_S = {"error": 6.0, "hint": 3.0, "info": 3.0}  # how long a message shows


def make_pages() -> Dict[str, Page]:
    """The pages in their order on the panel (F1-F7, the select encoder), by name."""
    return {
        "play": PlayPage(),
        "prompt": PromptPage(),
        "generate": GeneratePage(),
        "settings": GenSettingsPage(),
        "sound": SoundPage(),
        "library": LibraryPage(),
        "system": SystemPage(),
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
        self.last_seed: object = None  # the last result's seed, as its recipe has it
        self.job: Optional[int] = None  # the last job this panel submitted, until it ends
        self.jobs: List[int] = []  # jobs queued or running, oldest (the running one) first
        self.model = Model()
        self.error_until = 0.0  # when the message shown ends
        self.message_at = 0.0  # when it began (long messages scroll from there)
        self.esc_at = -1e9  # the last Esc that cancelled the running job
        self._cancelled: List[int] = []  # jobs this panel cancelled (said once, not per job)
        self.speeds = [Speed(), Speed()]  # encoder acceleration, from each Turn's time
        self.turn_speed = 0.0  # of the turn being handled: 0 slow .. 1 fast (pages read it)
        self.fine = False  # ... and whether it is in fine mode
        self.last_input = clock()
        self.last_draw = -1e9
        self.last_image: Optional[bytes] = None
        self.draws = 0
        self._seen_problems: List[str] = []
        self._event_seq = inst.events_since(0)[0]
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
        self.lock.typed = ""  # a PIN half typed on the System page is forgotten
        self.page = name
        if name == "system" and self.lock.enabled:  # the operator's way in (and out)
            if self.lock.unlocked:
                self.flash("Enter: lock kiosk", 10.0, kind="hint")
            elif self.lock.pin_enabled:
                self.flash("staff: PIN + Enter", 10.0, kind="hint")

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
        "hint" (what to do instead: "hold to save") or "info" (what happened: "cancelled").
        Long messages wrap, and scroll past three lines."""
        if kind not in MESSAGE_S:
            raise ValueError("kind must be error, hint or info, not %r" % kind)
        self.model.message, self.model.message_kind = message[:200], kind
        self.message_at = self.clock()
        self.error_until = self.message_at + (MESSAGE_S[kind] if seconds is None else seconds)

    def generate(self) -> bool:
        try:
            self.job = self.inst.generate(self.prompt.text)
        except Exception as e:  # a refused prompt, a full queue, no generator: shown, not raised
            self.flash(str(e))
            return False
        self.set_page("generate")
        return True

    def running_job(self) -> Optional[int]:
        """The job being generated now, whoever submitted it (the generator runs one at a time,
        oldest first: the oldest job not yet ended)."""
        return self.jobs[0] if self.jobs else None

    def cancel_jobs(self) -> bool:
        """Esc: cancel the running job; a second Esc within ESC_AGAIN_S, or one with nothing
        running, cancels every job (the queue and whatever runs). True if anything was cancelled."""
        now = self.clock()
        running = self.running_job()
        again = now - self.esc_at < ESC_AGAIN_S
        if running is not None and not again:
            self._cancelled.append(running)
            n = self.inst.cancel(running)
            self.esc_at = now
            waiting = self.inst.queued()
            if n:
                self.flash("cancelled" + ("; Esc again: cancel %d waiting" % waiting if waiting else ""), kind="info")
            return n > 0
        self.esc_at = -1e9
        self._cancelled.extend(self.jobs)
        n = self.inst.cancel()
        if n:
            self.flash("cancelled %d job%s" % (n, "" if n == 1 else "s"), kind="info")
        return n > 0

    def cancel(self) -> bool:
        return self.cancel_jobs()

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
        self._presets = None
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
        self._presets = None
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

    # ---- input -----------------------------------------------------------------------------------
    def handle(self, ev) -> None:
        now = self.last_input = self.clock()
        self.lock.input(now)
        page = self.current_page
        if isinstance(ev, Press) and ev.kind == "hold":
            # both buttons held for [panel] kiosk_unlock_hold: the operator's gesture, nothing else
            if self.lock.hold(ev.button, now):
                self.flash("kiosk unlocked" if self.lock.unlocked else "kiosk locked", 10.0, kind="info")
            return
        if isinstance(ev, Key):
            if ev.name.startswith("f") and ev.name[1:].isdigit() and 1 <= int(ev.name[1:]) <= len(self.order):
                self.set_page(self.order[int(ev.name[1:]) - 1])
                return
            if self.page == "system" and self._operator_key(ev, now):
                return
            # Esc cancels jobs (see cancel_jobs) unless the page has a dialog open that it closes
            if ev.name == "esc" and not page.modal() and (self.jobs or self.inst.queued()):
                self.cancel_jobs()
                return
            if page.key(self, ev):
                return
            if ev.name in ("tab", "backtab"):  # unless the page uses Tab: the select encoder
                self.handle(Turn(0, -1 if ev.name == "backtab" else 1))
                return
            if ev.name in ("pageup", "pagedown"):  # the value encoder
                self.handle(Turn(1, 1 if ev.name == "pageup" else -1))
                return
            if ev.char and self.page != "prompt":  # typing anywhere goes to the prompt
                self.set_page("prompt")
                self.current_page.key(self, ev)
            return
        if isinstance(ev, Turn):
            self.turn_speed = self.speeds[ev.encoder % 2].feed(ev.delta, ev.t)
            self.fine = ev.fine
            if page.turn(self, ev.encoder, ev.delta):
                return
            if ev.encoder == 0:
                i = self.order.index(self.page)
                self.set_page(self.order[(i + ev.delta) % len(self.order)])
            return
        if isinstance(ev, Press):
            if ev.button == 0 and ev.kind == "long":
                self.set_page("play")  # a long press on select (encoder 1's button): home
                return
            page.press(self, ev.kind)  # a page's own long-press action is encoder 2's

    def _operator_key(self, ev: Key, now: float) -> bool:
        """The System page of a kiosk: a locked one takes the PIN there (typed characters go to
        the PIN, never to the prompt; only "*"s are shown), an unlocked one locks on Enter."""
        lock = self.lock
        if not lock.enabled:
            return False
        if lock.unlocked:
            if ev.name == "enter":
                lock.lock("Enter on the System page")
                self.flash("kiosk locked", kind="info")
                return True
            return False
        if not lock.pin_enabled:
            return False
        if ev.char:
            lock.pin_char(ev.char)
        elif ev.name == "backspace":
            lock.pin_backspace()
        elif ev.name == "esc" and lock.typed:
            lock.typed = ""
        elif ev.name == "enter":
            hint = lock.pin_enter(now)
            self.flash(hint or "kiosk unlocked", 10.0, kind="hint" if hint else "info")
            return True
        else:
            return False
        self.flash("PIN %s" % ("*" * len(lock.typed)), 10.0, kind="hint")
        return True

    def return_to_attract(self) -> None:
        """The kiosk's idle return: the next visitor finds the panel and the instrument as the
        operator left them. Locked again, nothing armed on any page (confirm, name entry, MIDI
        learn, the character wheel), the prompt cleared, the queue cancelled, every sound and
        generation setting back to the attract preset and the configured defaults, the Play page."""
        self.lock.lock("idle return")
        for page in self.pages.values():
            leave = getattr(page, "leave", None)
            if leave is not None:
                leave(self)
            if hasattr(page, "sel"):
                page.sel = 0
        self.page = "play"
        self.prompt.clear()
        self.name.clear()
        self.wheel, self.spelling = CharWheel(), False
        self.cc.learning = None
        self.job, self.last_seed = None, None
        self._cancelled.extend(self.jobs)  # their "cancelled" is not news for the next visitor
        self.model.progress, self.model.last_result = None, ""
        self.model.message, self.model.message_kind, self.error_until = "", "", 0.0
        self._presets = None
        bank, _, name = self.attract.rpartition("/")
        try:
            self.inst.return_to_attract(bank or "factory", name)
        except Exception as e:  # a missing attract preset: say so; the rest is reset anyway
            log.error("idle return: %s", e)
            self.flash(str(e))

    # ---- refresh and drawing ---------------------------------------------------------------------
    def _events(self) -> None:
        self._event_seq, events = self.inst.events_since(self._event_seq)
        # every job is followed, whoever submitted it (this panel, a preset load, the web page):
        # the top bar shows the running one and how many wait
        for ev in events:
            if isinstance(ev, gm.Queued):
                if ev.job_id not in self.jobs:
                    self.jobs.append(ev.job_id)
            elif isinstance(ev, gm.Progress):
                if ev.job_id not in self.jobs:  # queued before this panel looked
                    self.jobs.insert(0, ev.job_id)
                if ev.job_id == self.running_job():
                    self.model.progress = (ev.step, ev.total, ev.remaining)
            elif isinstance(ev, (gm.Result, gm.Failed)):
                if ev.job_id == self.running_job():
                    self.model.progress = None
                if ev.job_id in self.jobs:
                    self.jobs.remove(ev.job_id)
                if ev.job_id == self.job:
                    self.job = None
                if isinstance(ev, gm.Result):
                    self.last_seed = ev.recipe.get("seed")
                    self.model.last_result = "seed %s" % self.last_seed
                elif ev.kind == "cancelled":  # asked for: news, not an error
                    if ev.job_id in self._cancelled:
                        self._cancelled.remove(ev.job_id)  # cancel_jobs said so already
                    else:
                        self.flash("job %d cancelled" % ev.job_id, kind="info")
                else:
                    self.flash("%s: %s" % (ev.kind, ev.reason))
        self.model.running = self.running_job()

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
        self._events()
        self._cc()
        refresh(self.model, self.inst, self.page)
        new = [p for p in self.model.problems if p not in self._seen_problems]
        self._seen_problems = list(self.model.problems)
        if new:
            self.flash(new[0])  # a part just stopped working: say so once
        elif now > self.error_until:
            self.model.message, self.model.message_kind = "", ""
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
            self.return_to_attract()

    def flags(self) -> str:
        """The top bar's right side: the running job's progress and the queue behind it come
        first (GEN 40% +3), then an error, the model loading, a part that stopped working."""
        m = self.model
        more = " +%d" % m.queued if m.queued else ""
        if m.running is not None:
            step, total, _ = m.progress if m.progress is not None else (0, 1, 0.0)
            return "GEN %d%%%s" % (100 * step // max(total, 1), more)
        if m.queued:
            return "GEN" + more
        if m.error:
            return "ERR"
        if m.model_state in ("starting", "loading"):
            return "LOAD"
        if m.problems:
            return "!" + m.problems[0].split()[0][:6].upper()  # e.g. !KEYBOA: see the System page
        return ""

    def render(self) -> Image.Image:
        img = Image.new("1", (WIDTH, HEIGHT), 0)
        d = ImageDraw.Draw(img)
        page = self.current_page
        page.draw(d, self.model, self)
        status_bar(d, page.title, self.flags(), page.position() or "")  # a list's place: SOUND 9/17
        if self.model.message:  # a message is shown over any page
            message_box(d, self.model.message, self.model.message_kind, self.clock() - self.message_at)
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
