"""Kiosk mode: what a visitor may do at the front panel, and the operator's unlock.

A kiosk runs unattended: whoever walks up may press anything. ``ACTIONS`` is the one list of
what the panel can change and whether a visitor may do it; the panel's action methods ask
:meth:`KioskLock.may` before doing anything, so a page (or a key mapped to it) cannot get round
the list. A refused action shows a short hint on the panel and writes one INFO line for the
operator (at most one per action every ``REFUSAL_LOG_S``: a visitor mashing Delete must not
fill the journal).

The operator unlocks with a long hold of both encoder buttons (``[panel] kiosk_unlock_hold``
seconds) or by typing ``[panel] kiosk_pin`` and Enter on the System page; unlocked, everything is
allowed until ``[panel] kiosk_unlock_timeout`` seconds pass without input, or the operator locks
again (the same hold, or Enter on the System page), or the idle return runs.

The idle return (:func:`return_to_attract`) puts the panel and the instrument back as the operator
left them for the next visitor. It and the System page's PIN entry (:func:`operator_key`) are
functions of the panel (``ui``), as the pages' methods are.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

from promptsynth.panel.events import Key
from promptsynth.panel.textedit import CharWheel

if TYPE_CHECKING:  # the panel calls these functions with itself
    from promptsynth.panel.panel import Panel

log = logging.getLogger("kiosk")

# action -> (a visitor may, the hint shown when refused (21 characters at most), what it is)
ACTIONS: Dict[str, Tuple[bool, str, str]] = {
    "type": (True, "", "type and edit a prompt (at most [panel] prompt_limit characters)"),
    "generate": (True, "", "generate from the prompt, with the operator's generation settings"),
    "cancel": (True, "", "cancel their job (Esc, a press on the Generate page)"),
    "browse": (True, "", "change pages and rows, look at every page"),
    "load": (True, "", "load a preset from the library (Enter or a press)"),
    "envelope": (True, "", "attack, decay, sustain, release on the Sound page"),
    "save": (False, "kiosk: no saving", "save the current sound as a preset"),
    "rename": (False, "kiosk: no renaming", "rename a preset"),
    "delete": (False, "kiosk: no deleting", "delete a preset"),
    "settings": (False, "kiosk: no settings", "generation settings: model, steps, length, seed..."),
    "sound": (False, "kiosk: locked setting", "sound settings other than the envelope: gain, tuning..."),
    "learn": (False, "kiosk: no MIDI learn", "MIDI learn (it writes ccmap.json, which outlives a visit)"),
    "kit": (False, "kiosk: no kits", "generate a kit, or a pad of it again (a job a pad: minutes of queue)"),
    "transform": (True, "", "morph the sound toward the typed prompt, or transform the sound itself"),
    "vary": (True, "", "variations of the sound: make, audition, keep, drop"),
    "record": (False, "kiosk: no recording", "record from the audio input (a microphone in a public place)"),
}
# The Sound page's rows a visitor may turn ("envelope"). They shape a note, cannot make the
# instrument louder than the operator's gain (sustain is at most 1), stay within the schema's
# ranges, and the idle return puts them back: safe to play with. Gain (hearing, neighbours),
# tuning, points and loops (silence, clicks that puzzle the next visitor), polyphony and
# vibrato stay the operator's.
VISITOR_SOUND_KEYS = frozenset(("attack", "decay", "sustain", "release"))

REFUSAL_LOG_S = 10.0  # the same refusal is logged at most this often
PIN_TRIES = 3  # wrong PINs in a row before PIN entry pauses
PIN_PAUSE_S = 60.0  # the pause: 3 guesses a minute make a 4-digit PIN a matter of days
PIN_MAX = 32  # characters kept while typing a PIN
HOLD_PAIR_S = 1.0  # both buttons' holds must come within this of each other


def sound_action(key: str) -> str:
    """The action that changing the sound setting ``key`` is."""
    return "envelope" if key in VISITOR_SOUND_KEYS else "sound"


class KioskLock:
    """The kiosk's lock: the policy (``ACTIONS``), the operator's unlock and its timeout.

    ``enabled`` False (no kiosk): everything is allowed and nothing here does anything.
    Times come from ``clock`` (the panel's), never the wall clock.
    """

    def __init__(
        self,
        enabled: bool,
        pin: str = "",
        unlock_timeout: float = 120.0,
        clock: Callable[[], float] = lambda: 0.0,
    ):
        self.enabled = enabled
        self._pin = pin.encode("utf-8")
        self.unlock_timeout = unlock_timeout
        self.clock = clock
        self.unlocked = False
        self.last_input = clock()
        self.typed = ""  # the PIN being typed (never shown, never in the prompt)
        self.wrong = 0
        self.paused_until = 0.0
        self._holds: Dict[int, float] = {}
        self._logged: Dict[str, float] = {}

    # ---- the policy ------------------------------------------------------------------------------
    @property
    def locked(self) -> bool:
        return self.enabled and not self.unlocked

    def allows(self, action: str) -> bool:
        """May ``action`` be done now? (No side effects; see :meth:`refusal` for the hint.)"""
        if action not in ACTIONS:
            raise KeyError("unknown kiosk action %r" % action)
        return not self.locked or ACTIONS[action][0]

    def refusal(self, action: str, detail: str = "") -> str:
        """Log a refused action for the operator (INFO, rate-limited); returns the panel's hint."""
        now = self.clock()
        last = self._logged.get(action)
        if last is None or now - last >= REFUSAL_LOG_S:
            self._logged[action] = now
            log.info("kiosk: refused %s%s (locked; the operator can unlock)", action, ": " + detail if detail else "")
        return ACTIONS[action][1]

    # ---- unlock and lock -------------------------------------------------------------------------
    @property
    def pin_enabled(self) -> bool:
        return self.enabled and bool(self._pin)

    def input(self, now: float) -> None:
        """Any input: keeps an unlocked kiosk unlocked for another ``unlock_timeout``."""
        self.last_input = now

    def unlock(self, how: str) -> None:
        self.unlocked, self.last_input, self.typed, self.wrong = True, self.clock(), "", 0
        log.warning(
            "kiosk: unlocked by the operator (%s); locks again after %.0f s without input", how, self.unlock_timeout
        )

    def lock(self, why: str) -> None:
        if self.unlocked:
            log.info("kiosk: locked again (%s)", why)
        self.unlocked, self.typed = False, ""

    def tick(self, now: float) -> None:
        """Lock again once ``unlock_timeout`` has passed without input."""
        if self.unlocked and now - self.last_input > self.unlock_timeout:
            self.lock("%.0f s without input" % self.unlock_timeout)

    def hold(self, button: int, now: float) -> bool:
        """A button held for ``[panel] kiosk_unlock_hold`` s; True when both were held together:
        that unlocks a locked kiosk and locks an unlocked one."""
        if not self.enabled:
            return False
        self._holds[button] = now
        others = [t for b, t in self._holds.items() if b != button and now - t <= HOLD_PAIR_S]
        if not others:
            return False
        self._holds.clear()
        if self.unlocked:
            self.lock("both buttons held")
        else:
            self.unlock("both buttons held")
        return True

    # ---- the PIN ---------------------------------------------------------------------------------
    def pin_char(self, ch: str) -> None:
        if len(self.typed) < PIN_MAX:
            self.typed += ch

    def pin_backspace(self) -> None:
        self.typed = self.typed[:-1]

    def pin_enter(self, now: float) -> Optional[str]:
        """Check the typed PIN; None when it unlocked, else the hint to show."""
        typed, self.typed = self.typed, ""
        if now < self.paused_until:
            return "PIN paused %d s" % (self.paused_until - now + 1)
        # compare_digest: the time taken does not say how much of a guess was right
        if self._pin and hmac.compare_digest(typed.encode("utf-8"), self._pin):
            self.unlock("PIN")
            return None
        self.wrong += 1
        if self.wrong >= PIN_TRIES:
            self.wrong, self.paused_until = 0, now + PIN_PAUSE_S
            log.warning("kiosk: %d wrong PINs in a row; PIN entry paused for %.0f s", PIN_TRIES, PIN_PAUSE_S)
            return "PIN paused %d s" % PIN_PAUSE_S
        log.warning("kiosk: a wrong PIN was typed on the System page")
        return "wrong PIN"


# ---- the operator and the next visitor at the panel ---------------------------------------------
def page_shown(ui: Panel, name: str) -> None:
    """A page change: a PIN half typed is forgotten, and the System page, the operator's way in
    (and out), says how."""
    lock = ui.lock
    lock.typed = ""
    if name == "system" and lock.enabled:
        if lock.unlocked:
            ui.flash("Enter: lock kiosk", 10.0, kind="hint")
        elif lock.pin_enabled:
            ui.flash("staff: PIN + Enter", 10.0, kind="hint")


def operator_key(ui: Panel, ev: Key, now: float) -> bool:
    """A key on the System page of a kiosk: a locked one takes the PIN there (typed characters go
    to the PIN, never to the prompt; only "*"s are shown), an unlocked one locks on Enter.
    True when the key was the operator's (the page and the prompt never see it)."""
    lock = ui.lock
    if not lock.enabled:
        return False
    if lock.unlocked:
        if ev.name == "enter":
            lock.lock("Enter on the System page")
            ui.flash("kiosk locked", kind="info")
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
        ui.flash(hint or "kiosk unlocked", 10.0, kind="hint" if hint else "info")
        return True
    else:
        return False
    ui.flash("PIN %s" % ("*" * len(lock.typed)), 10.0, kind="hint")
    return True


def return_to_attract(ui: Panel) -> None:
    """The kiosk's idle return: the next visitor finds the panel and the instrument as the
    operator left them. Locked again, nothing armed on any page (confirm, name entry, MIDI
    learn, the character wheel), the prompt cleared, the queue cancelled, every sound and
    generation setting back to the attract preset and the configured defaults, the Play page."""
    ui.lock.lock("idle return")
    for page in ui.pages.values():
        leave = getattr(page, "leave", None)
        if leave is not None:
            leave(ui)
        if hasattr(page, "sel"):
            page.sel = 0
    ui.page = "play"
    ui.prompt.clear()
    ui.name.clear()
    ui.wheel, ui.spelling = CharWheel(), False
    ui.cc.learning = None
    ui.jobs.forget()
    ui.model.progress, ui.model.last_result = None, ""
    ui.messages.clear()
    ui.forget_presets()
    bank, _, name = ui.attract.rpartition("/")
    try:
        ui.inst.return_to_attract(bank or "factory", name)
    except Exception as e:  # a missing attract preset: say so; the rest is reset anyway
        log.error("idle return: %s", e)
        ui.flash(str(e))
