"""The engine process on its own, as the tests drive it: through the daemon's own engine host
(spawned, sounds in shared memory, notices collected, stopped with a fade), plus test sounds
and JACK MIDI clients that stand for keyboards and software."""

import json
import os
import queue
import subprocess
import sys
import threading
from typing import Dict, List, Optional

import numpy as np

from promptsynth.bench.rig import wait_for
from promptsynth.daemon.engine_host import EngineHost
from promptsynth.engine.sound import PlayableSound, prepare


def tone_sound(rate: int, freq: float = 300.0, amp: float = 0.25, sound_id: int = 1) -> PlayableSound:
    """A looping sine at the root (note 60) whose loop holds whole cycles: every voice of it is a
    steady sine of known level and pitch. At 300 Hz a copy started 1-5 periods (128 frames) later
    sums to 0.62-2 times the level, never to 1, so a doubled note cannot pass for one."""
    n = int(round(rate / freq)) * int(freq)
    t = np.arange(n) / rate
    audio = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return prepare(audio, root=60, loop_mode="forward", loop_start=0, loop_end=n, sound_id=sound_id, name="tone")


class EngineProc(EngineHost):
    """The daemon's engine host, started at once, with a few conveniences for tests."""

    def __init__(self, cfg, env: Optional[Dict[str, str]] = None):
        super().__init__(cfg, env)
        self.start()

    def load(self, sound: PlayableSound) -> None:
        self.play(sound)

    def noticed(self, text: str) -> bool:
        self.poll()
        return any(text in n.text for n in self.notices)

    def texts(self) -> List[str]:
        self.poll()
        return [n.text for n in self.notices]

    def __getitem__(self, name: str) -> float:
        return self.stats[name]


def startup_sound(cfg, sound_id: int = 1) -> PlayableSound:
    """The instrument's init sound (a looping C4 tone), as the daemon plays it at start-up."""
    from promptsynth.daemon.instrument import startup_sound as made

    return made(cfg, sound_id)[0]


def fresh_tap(rig, device: str = "tap_jack") -> None:
    path = rig.tap_path(device)
    if os.path.exists(path):
        os.unlink(path)


class JackMidiPort:
    """A JACK client with one MIDI output port: a keyboard (``physical=True``: flagged like a
    hardware port, as the JACK ALSA backend and a2jmidid flag theirs) or a software client.
    Messages queued by :meth:`send` go out in the next process cycle, each call's messages in the
    same cycle.

    The client lives in a child process (``jack_midi_child.py``): libjack can deadlock a client
    beside a loaded server, and a child that stops answering for ``answer_s`` is killed and
    the test fails, where a client in the pytest process would hang the whole run."""

    answer_s = 60.0

    def __init__(self, client: str, physical: bool = False, port: str = "out"):
        child = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jack_midi_child.py")
        self.proc = subprocess.Popen(
            [sys.executable, child, client, "1" if physical else "0", port],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[Optional[str]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.name = self._answer("ready")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # the child is gone

    def _answer(self, key: str = "value"):
        try:
            line = self._lines.get(timeout=self.answer_s)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError("JACK client %r stopped answering (killed)" % self.proc.args[2]) from None
        if line is None:
            raise AssertionError("JACK client %r exited with %s" % (self.proc.args[2], self.proc.wait()))
        msg = json.loads(line)
        if "error" in msg:
            raise RuntimeError(msg["error"])
        return msg[key]

    def _ask(self, op: str, **args):
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(dict(args, op=op)) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    @property
    def cycles(self) -> int:
        """How many JACK process cycles the client has run."""
        return int(self._ask("cycles"))

    def send(self, *messages) -> None:
        self._ask("send", messages=[list(bytes(msg)) for msg in messages])

    def settle(self, cycles: int = 32) -> None:
        """Wait until this client has gone through ``cycles`` more JACK cycles (JACK time, not
        wall-clock). Right after a client is made or connected, JACK can skip a few cycles of the
        clients involved while it re-sorts its graph, and the MIDI of a skipped cycle is lost."""
        start = self.cycles
        assert wait_for(lambda: self.cycles >= start + cycles, 30.0), "JACK stopped calling %s" % self.name

    def connect(self, destination: str) -> None:
        self._ask("connect", to=destination)

    def disconnect(self, destination: str) -> None:
        self._ask("disconnect", to=destination)

    def connections(self) -> List[str]:
        return list(self._ask("connections"))

    def close(self) -> None:
        """Unplug: the port and its client go away (killed, if closing it hangs: JACK drops a
        dead client's ports too)."""
        if self.proc.poll() is not None:
            return
        try:
            self._ask("close")
        except (AssertionError, OSError):
            pass
        finally:
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def deliver(port: JackMidiPort, arrived, progress, *messages, tries: int = 5) -> int:
    """Send ``messages`` (in one JACK cycle) until ``arrived()``; returns how many sends JACK lost.

    On this shared, non-realtime JACK server a client that is late for a cycle misses that
    cycle's MIDI, and a test cannot tell JACK to keep it. A send is repeated only once it is
    provably lost: the sender has since run 64 more cycles (JACK hands MIDI over within its
    cycle, or never) and ``progress()`` (the receiver's count of polls) has gone up by 100 as
    well, so the receiver would long have taken it. A message that arrived late would instead
    show up as a second arrival, which the callers' counts catch.
    """
    for attempt in range(tries):
        c0, p0 = port.cycles, progress()
        port.send(*messages)
        wait_for(lambda: arrived() or (port.cycles > c0 + 64 and progress() > p0 + 100), 60.0)
        if arrived():
            return attempt
    raise AssertionError("JACK lost %r %d times" % (messages, tries))


def send_until(kbd, arrived, progress, *messages, tries: int = 5) -> int:
    """``deliver`` for an rtmidi keyboard (``rig.keyboard()``): send ``messages`` until
    ``arrived()``; a send is repeated only once ``progress()`` (the engine's periods) has gone up
    by 200 with nothing arriving (a busy JACK server drops the MIDI of a client late for its
    cycle). Returns how many sends were lost."""
    for attempt in range(tries):
        p0 = progress()
        for msg in messages:
            kbd.send_message(list(msg))
        wait_for(lambda: arrived() or progress() > p0 + 200, 60.0)
        if arrived():
            return attempt
    raise AssertionError("JACK lost %r %d times" % (messages, tries))
