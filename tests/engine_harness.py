"""The engine process on its own, as the tests drive it: spawned like the daemon spawns it, with
sounds handed over in shared memory, notices collected, stopped with a fade.

Only engine-level parts are used (engine_main, shm.publish, messages, EngineStats), so these
tests follow the engine, not whichever process hosts it.
"""
import collections
import multiprocessing
import os
from typing import Dict, List, Optional

import numpy as np

from promptsynth.bench.rig import wait_for
from promptsynth.engine import messages as m
from promptsynth.engine.shm import publish
from promptsynth.engine.sound import PlayableSound, init_sound, prepare
from promptsynth.engine.stats import EngineStats


def tone_sound(rate: int, freq: float = 300.0, amp: float = 0.25, sound_id: int = 1) -> PlayableSound:
    """A looping sine at the root (note 60) whose loop holds whole cycles: every voice of it is a
    steady sine of known level and pitch. At 300 Hz a copy started 1-5 periods (128 frames) later
    sums to 0.62-2 times the level, never to 1, so a doubled note cannot pass for one."""
    n = int(round(rate / freq)) * int(freq)
    t = np.arange(n) / rate
    audio = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return prepare(audio, root=60, loop_mode="forward", loop_start=0, loop_end=n, sound_id=sound_id, name="tone")


def startup_sound(rate: int, sound_id: int = 1) -> PlayableSound:
    """The instrument's init sound (a looping C4 tone), as the daemon plays it at start-up."""
    audio, loop = init_sound(rate)
    return prepare(audio, root=60, loop_mode="forward", loop_start=loop[0], loop_end=loop[1], crossfade=480,
                   sound_id=sound_id, name="init")


class EngineProc:
    def __init__(self, cfg, env: Optional[Dict[str, str]] = None):
        from promptsynth.engine.process import engine_main
        self.cfg = cfg
        ctx = multiprocessing.get_context("spawn")
        self.stats = EngineStats(ctx)
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=engine_main, args=(cfg, child, self.stats, dict(env or {})),
                                name="promptsynth-engine", daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        self.notices: List[m.Notice] = []
        self.ready: Optional[m.Ready] = None
        self._shm: Dict[int, object] = {}
        self._next_id = 1

    def new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def load(self, sound: PlayableSound) -> None:
        shm, msg = publish(sound)
        self._shm[sound.sound_id] = shm
        self.send(msg)

    def send(self, msg) -> None:
        self.conn.send(msg)

    def poll(self, timeout: float = 0.0) -> bool:
        """Take what the engine sent; True if anything came."""
        got = False
        try:
            while self.conn.poll(timeout):
                timeout = 0.0
                msg = self.conn.recv()
                got = True
                if isinstance(msg, m.Notice):
                    self.notices.append(msg)
                elif isinstance(msg, m.Ready):
                    self.ready = msg
                elif isinstance(msg, m.SoundsReleased):
                    for sid in msg.sound_ids:
                        shm = self._shm.pop(sid, None)
                        if shm is not None:
                            shm.close()
                            shm.unlink()
        except (EOFError, OSError):
            pass
        return got

    def wait_ready(self, timeout: float) -> bool:
        return wait_for(lambda: self.poll(0.02) and False or self.ready is not None, timeout)

    def noticed(self, text: str) -> bool:
        self.poll()
        return any(text in n.text for n in self.notices)

    def texts(self) -> List[str]:
        self.poll()
        return [n.text for n in self.notices]

    def __getitem__(self, name: str) -> float:
        return self.stats[name]

    def alive(self) -> bool:
        return self.proc.is_alive()

    def stop(self) -> None:
        if self.proc.is_alive():
            try:
                self.send(m.Stop())
            except (OSError, BrokenPipeError):
                pass
            self.proc.join(10.0)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5.0)
        self.poll()
        for shm in self._shm.values():
            try:
                shm.close()
                shm.unlink()
            except (OSError, BufferError):
                pass
        self._shm.clear()
        try:
            self.conn.close()
        except OSError:
            pass


def fresh_tap(rig, device: str = "tap_jack") -> None:
    path = rig.tap_path(device)
    if os.path.exists(path):
        os.unlink(path)


class JackMidiPort:
    """A JACK client with one MIDI output port: a keyboard (``physical=True``: flagged like a
    hardware port, as the JACK ALSA backend and a2jmidid flag theirs) or a software client.
    Messages queued by :meth:`send` go out in the next process cycle, each call's messages in the
    same cycle."""

    def __init__(self, client: str, physical: bool = False, port: str = "out"):
        import jack
        self.client = jack.Client(client, no_start_server=True)
        self.port = self.client.midi_outports.register(port, is_physical=physical, is_terminal=physical)
        self.name = self.port.name
        self._queue: collections.deque = collections.deque()
        self.cycles = 0

        @self.client.set_process_callback
        def process(frames):
            self.cycles += 1
            self.port.clear_buffer()
            while self._queue:
                for offset, msg in enumerate(self._queue.popleft()):
                    self.port.write_midi_event(offset, msg)

        self.client.activate()

    def send(self, *messages) -> None:
        self._queue.append([bytes(msg) for msg in messages])

    def settle(self, cycles: int = 32) -> None:
        """Wait until this client has gone through ``cycles`` more JACK cycles (JACK time, not
        wall-clock). Right after a client is made or connected, JACK can skip a few cycles of the
        clients involved while it re-sorts its graph, and the MIDI of a skipped cycle is lost."""
        start = self.cycles
        assert wait_for(lambda: self.cycles >= start + cycles, 30.0), "JACK stopped calling %s" % self.name

    def connect(self, destination: str) -> None:
        self.client.connect(self.port, destination)

    def disconnect(self, destination: str) -> None:
        self.client.disconnect(self.port, destination)

    def connections(self) -> List[str]:
        return sorted(p.name for p in self.client.get_all_connections(self.port))

    def close(self) -> None:
        """Unplug: the port and its client go away."""
        try:
            self.client.deactivate()
        finally:
            self.client.close()


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
