"""A USB keyboard through evdev: key events to panel keys, grabbed so nothing reaches a console."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Deque, Dict, Optional, Tuple

NAMED = {"KEY_ENTER": "enter", "KEY_KPENTER": "enter", "KEY_ESC": "esc", "KEY_LEFT": "left", "KEY_RIGHT": "right",
         "KEY_UP": "up", "KEY_DOWN": "down", "KEY_HOME": "home", "KEY_END": "end", "KEY_BACKSPACE": "backspace",
         "KEY_DELETE": "delete", "KEY_TAB": "tab", "KEY_PAGEUP": "pageup", "KEY_PAGEDOWN": "pagedown",
         "KEY_F1": "f1", "KEY_F2": "f2", "KEY_F3": "f3", "KEY_F4": "f4", "KEY_F5": "f5", "KEY_F6": "f6",
         "KEY_F7": "f7"}
# US layout: key -> (plain, shifted)
US: Dict[str, Tuple[str, str]] = {"KEY_%s" % c: (c.lower(), c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
US.update({"KEY_1": ("1", "!"), "KEY_2": ("2", "@"), "KEY_3": ("3", "#"), "KEY_4": ("4", "$"), "KEY_5": ("5", "%"),
           "KEY_6": ("6", "^"), "KEY_7": ("7", "&"), "KEY_8": ("8", "*"), "KEY_9": ("9", "("), "KEY_0": ("0", ")"),
           "KEY_MINUS": ("-", "_"), "KEY_EQUAL": ("=", "+"), "KEY_LEFTBRACE": ("[", "{"), "KEY_RIGHTBRACE": ("]", "}"),
           "KEY_SEMICOLON": (";", ":"), "KEY_APOSTROPHE": ("'", '"'), "KEY_GRAVE": ("`", "~"),
           "KEY_BACKSLASH": ("\\", "|"), "KEY_COMMA": (",", "<"), "KEY_DOT": (".", ">"), "KEY_SLASH": ("/", "?"),
           "KEY_SPACE": (" ", " ")})
KEYMAPS = {"us": US}


@dataclass(frozen=True)
class Key:
    name: str = ""          # a named key ("enter", "left"...), or "" for text
    char: str = ""          # the character typed, for text


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
        if ev.value == 0:                     # key up
            return None
        if name in NAMED:
            return Key(name=NAMED[name])
        if name in self.map:
            plain, shifted = self.map[name]
            up = self.shift != (self.caps and plain.isalpha())
            return Key(char=shifted if up else plain)
        return None


class EvdevKeyboard:
    """Finds a keyboard (by name substring, "" = the first one with letter keys), grabs it, and
    reads it on a thread into a queue; replugging is picked up by a rescan every 2 s."""

    def __init__(self, match: str = "", keymap: str = "us"):
        self.match = match
        self.decoder = KeyDecoder(keymap)
        self.keys: Deque[Key] = deque(maxlen=256)
        self.device = None
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="panel-keyboard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _find(self):
        import evdev
        for path in evdev.list_devices():
            try:
                d = evdev.InputDevice(path)
            except OSError:
                continue
            caps = d.capabilities().get(evdev.ecodes.EV_KEY, [])
            if evdev.ecodes.KEY_A in caps and (not self.match or self.match.lower() in d.name.lower()):
                return d
            d.close()
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.device is None:
                try:
                    self.device = self._find()
                    if self.device is not None:
                        self.device.grab()          # keystrokes never reach a console
                except OSError as e:
                    self.error = str(e)
                    self.device = None
                if self.device is None:
                    time.sleep(2.0)
                    continue
            try:
                for ev in self.device.read_loop():
                    k = self.decoder.feed(ev)
                    if k is not None:
                        self.keys.append(k)
                    if self._stop.is_set():
                        break
            except OSError:                          # unplugged
                self.device = None

    def stop(self) -> None:
        self._stop.set()
