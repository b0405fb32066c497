"""MIDI in through python-rtmidi: every matching port, a virtual port, hotplug by polling.

python-rtmidi has no disconnect event and a new client per poll leaks sequencer clients, so one
persistent client lists the ports, and each opened port keeps its own client for as long as the
instrument runs (closed ports are re-used for the next one that appears).

Threading: :meth:`rescan` runs in the engine's control thread; :meth:`poll` in the audio loop.
The audio loop only reads ``self.inputs``, a tuple replaced whole by :meth:`rescan`, and a port
is closed one rescan after it left that tuple, so the two never touch the same port at once.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Tuple

CLIENT = "promptsynth"
_NUMBERS = re.compile(r"\s+\d+:\d+$")


def base_name(port: str) -> str:
    """A port's name without ALSA's trailing client:port numbers, which change on replug."""
    return _NUMBERS.sub("", port)


class MidiInput:
    def __init__(self, api: str = "alsa", match: str = "", virtual: bool = True, client: str = CLIENT):
        import rtmidi  # only here: the core imports without it

        self._rtmidi = rtmidi
        self.api = rtmidi.API_LINUX_ALSA if api == "alsa" else rtmidi.API_UNIX_JACK
        self.match = match
        self.virtual = virtual
        self.client = client
        self.inputs: Tuple = ()                  # read by the audio loop
        self._open: Dict[str, object] = {}       # base name -> MidiIn
        self._spare: List[object] = []
        self._closing: List[object] = []
        self._scanner = None
        self._virtual = None
        self.error = ""

    def _new_client(self):
        m = self._rtmidi.MidiIn(self.api, name=self.client)
        m.ignore_types(sysex=False, timing=True, active_sense=True)   # SysEx arrives, to be counted
        return m

    def start(self) -> bool:
        """Create the scanning client and the virtual port. False (with ``error``) if MIDI is absent."""
        if self._scanner is not None:
            return True
        try:
            self._scanner = self._rtmidi.MidiIn(self.api, name=self.client + "-scan")
            if self.virtual:
                self._virtual = self._new_client()
                self._virtual.open_virtual_port(self.client)
                self.inputs = (self._virtual,)
            self.error = ""
            return True
        except (SystemError, self._rtmidi.RtMidiError, RuntimeError) as e:
            self._scanner = None
            self.error = "MIDI (%s API) unavailable: %s" % ("ALSA" if self.api == self._rtmidi.API_LINUX_ALSA
                                                            else "JACK", e)
            return False

    def _wanted(self, port: str) -> bool:
        name = base_name(port)
        if name.startswith(self.client) or ":" + self.client in name:
            return False                          # our own ports
        if self.match:
            return self.match.lower() in name.lower()
        return "Midi Through" not in name         # every hardware port

    def rescan(self) -> Tuple[List[str], List[str]]:
        """Open new matching ports, drop vanished ones. Returns (opened, lost) base names."""
        for m in self._closing:                   # left ``inputs`` one rescan ago
            try:
                m.close_port()
            except Exception:
                pass
            self._spare.append(m)
        self._closing = []
        if self._scanner is None:
            return [], []
        try:
            ports = self._scanner.get_ports()
        except Exception as e:  # the sequencer itself went away
            self.error = str(e)
            return [], []
        present = {base_name(p): p for p in ports if self._wanted(p)}
        lost = [name for name in self._open if name not in present]
        for name in lost:
            self._closing.append(self._open.pop(name))
        opened = []
        for name, full in present.items():
            if name in self._open:
                continue
            m = self._spare.pop() if self._spare else self._new_client()
            try:
                names = [base_name(p) for p in m.get_ports()]
                m.open_port(names.index(name), name="in")
            except (ValueError, self._rtmidi.RtMidiError, SystemError) as e:
                self.error = "cannot open %s: %s" % (name, e)
                self._spare.append(m)
                continue
            self._open[name] = m
            opened.append(name)
        if opened or lost:
            self.inputs = ((self._virtual,) if self._virtual is not None else ()) + tuple(self._open.values())
        return opened, lost

    @property
    def port_names(self) -> List[str]:
        return list(self._open)

    def poll(self, feed: Callable, limit: int = 256) -> int:
        """Hand every waiting message to ``feed``; at most ``limit`` a call (a flood waits)."""
        count = 0
        for m in self.inputs:
            while count < limit:
                item = m.get_message()
                if item is None:
                    break
                feed(item[0])
                count += 1
        return count

    def close(self) -> None:
        self.inputs = ()
        for m in list(self._open.values()) + self._closing + self._spare + [self._virtual, self._scanner]:
            if m is not None:
                try:
                    m.close_port()
                except Exception:
                    pass
                try:
                    m.delete()
                except Exception:
                    pass
        self._open.clear()
        self._closing, self._spare = [], []
        self._virtual = self._scanner = None
