"""A USB keyboard through evdev: key events to panel keys, grabbed so nothing reaches a console."""

from __future__ import annotations

import select
import threading
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple

from promptsynth.backoff import Backoff
from promptsynth.log import describe
from promptsynth.panel.events import Key

NAMED = {
    "KEY_ENTER": "enter",
    "KEY_KPENTER": "enter",
    "KEY_ESC": "esc",
    "KEY_LEFT": "left",
    "KEY_RIGHT": "right",
    "KEY_UP": "up",
    "KEY_DOWN": "down",
    "KEY_HOME": "home",
    "KEY_END": "end",
    "KEY_BACKSPACE": "backspace",
    "KEY_DELETE": "delete",
    "KEY_TAB": "tab",
    "KEY_PAGEUP": "pageup",
    "KEY_PAGEDOWN": "pagedown",
    "KEY_F1": "f1",
    "KEY_F2": "f2",
    "KEY_F3": "f3",
    "KEY_F4": "f4",
    "KEY_F5": "f5",
    "KEY_F6": "f6",
    "KEY_F7": "f7",
    "KEY_F8": "f8",
    "KEY_F9": "f9",
    "KEY_F10": "f10",
    "KEY_F11": "f11",
}
# US layout: key -> (plain, shifted)
US: Dict[str, Tuple[str, str]] = {"KEY_%s" % c: (c.lower(), c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
US.update(
    {
        "KEY_1": ("1", "!"),
        "KEY_2": ("2", "@"),
        "KEY_3": ("3", "#"),
        "KEY_4": ("4", "$"),
        "KEY_5": ("5", "%"),
        "KEY_6": ("6", "^"),
        "KEY_7": ("7", "&"),
        "KEY_8": ("8", "*"),
        "KEY_9": ("9", "("),
        "KEY_0": ("0", ")"),
        "KEY_MINUS": ("-", "_"),
        "KEY_EQUAL": ("=", "+"),
        "KEY_LEFTBRACE": ("[", "{"),
        "KEY_RIGHTBRACE": ("]", "}"),
        "KEY_SEMICOLON": (";", ":"),
        "KEY_APOSTROPHE": ("'", '"'),
        "KEY_GRAVE": ("`", "~"),
        "KEY_BACKSLASH": ("\\", "|"),
        "KEY_COMMA": (",", "<"),
        "KEY_DOT": (".", ">"),
        "KEY_SLASH": ("/", "?"),
        "KEY_SPACE": (" ", " "),
    }
)
KEYMAPS = {"us": US}


class KeyDecoder:
    """evdev InputEvents (EV_KEY) to :class:`Key`; key-down and auto-repeat type, key-up does not."""

    def __init__(self, keymap: str = "us"):
        from evdev import ecodes

        self._ec = ecodes
        self.map = KEYMAPS.get(keymap, US)
        self.shift = False
        self.caps = False

    def feed(self, ev) -> Optional[Key]:
        ec = self._ec
        if ev.type != ec.EV_KEY:
            return None
        name = ec.KEY.get(ev.code, "")
        if isinstance(name, list):
            name = name[0]
        if name in ("KEY_LEFTSHIFT", "KEY_RIGHTSHIFT"):
            self.shift = ev.value != 0
            return None
        if name == "KEY_CAPSLOCK" and ev.value == 1:
            self.caps = not self.caps
            return None
        if ev.value == 0:  # key up
            return None
        if name in NAMED:
            if name == "KEY_TAB" and self.shift:  # Shift-Tab turns the select encoder back
                return Key(name="backtab")
            return Key(name=NAMED[name])
        if name in self.map:
            plain, shifted = self.map[name]
            up = self.shift != (self.caps and plain.isalpha())
            return Key(char=shifted if up else plain)
        return None


class EvdevKeyboard:
    """Finds a keyboard (by name substring, "" = the first one with letter keys), grabs it, and
    reads it on a thread into a queue.

    Whatever evdev raises (no device, permission denied, busy grab, unplugged mid-typing) is
    caught on that thread: the keyboard is marked absent or failed, closed, and looked for again
    after a short backoff (0.5 s growing to 2 s), so a replugged keyboard types again within 2 s.
    """

    def __init__(self, match: str = "", keymap: str = "us", evdev=None):
        """``evdev``: the module (tests pass one that raises what the real one can raise)."""
        if evdev is None:
            import evdev
        self.evdev = evdev
        self.match = match
        self.decoder = KeyDecoder(keymap)
        self.keys: Deque[Key] = deque(maxlen=256)
        self.device: Optional[Any] = None  # the evdev InputDevice, while one is open and grabbed
        self.state, self.error = "absent", "not looked for yet"
        self.backoff = Backoff(first=0.5, limit=2.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panel-keyboard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def status(self) -> Tuple[str, str]:
        return self.state, self.error

    def events(self) -> List[Key]:
        out = []
        while self.keys:
            out.append(self.keys.popleft())
        return out

    def _find(self):
        ev = self.evdev
        for path in ev.list_devices():
            d = ev.InputDevice(path)
            if ev.ecodes.KEY_A in d.capabilities().get(ev.ecodes.EV_KEY, []) and (
                not self.match or self.match.lower() in d.name.lower()
            ):
                return d
            d.close()
        return None

    def _open(self) -> None:
        d = self._find()
        if d is None:
            self.state, self.error = (
                "absent",
                "no keyboard%s found" % (" matching %r" % self.match if self.match else ""),
            )
            return
        try:
            d.grab()  # keystrokes never reach a console
        except BaseException:
            d.close()
            raise
        self.device, self.state, self.error = d, "ok", d.name

    def _read(self) -> None:
        device = self.device
        assert device is not None  # _run reads only while a keyboard is open
        ready, _, _ = select.select([device.fd], [], [], 0.5)
        if not ready:
            return
        try:
            for ev in device.read():
                k = self.decoder.feed(ev)
                if k is not None:
                    self.keys.append(k)
        except BlockingIOError:
            pass

    def _close(self) -> None:
        if self.device is not None:
            try:
                self.device.close()
            except Exception:  # an unplugged device: its fd is gone already
                pass
            self.device = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.device is None:
                    self._open()
                if self.device is not None:
                    self._read()
                    self.backoff.succeeded()
                    continue
            except Exception as e:  # permission, busy, unplugged: look again later
                self._close()
                self.state, self.error = ("absent" if isinstance(e, FileNotFoundError) else "failed"), describe(e)
            self._stop.wait(self.backoff.failed(0.0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._close()
