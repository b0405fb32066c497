"""The engine's control thread: everything the audio loop must never wait for.

At normal priority and blocked nearly always, it receives the supervisor's messages, maps new
sounds' shared memory (the mmap of even a 30 s sound then costs the audio loop nothing), starts
MIDI and rescans its ports, closes the shared memory of sounds no voice plays any more, and sends
the supervisor the notices the audio loop queued.

The two threads share only deques (appends and pops are atomic, so neither side locks) and the
MIDI input tuple, which the control thread replaces whole. What this thread hands the audio loop
are typed commands: the supervisor's messages, and the two internal ones below.
"""

from __future__ import annotations

import collections
import threading
import time
from multiprocessing import shared_memory
from typing import Dict, Optional

from promptsynth.config import Config
from promptsynth.engine import messages as m
from promptsynth.engine.shm import attach
from promptsynth.engine.stats import INDEX, EngineStats

RESCAN_S = 0.5  # MIDI hotplug: a replugged keyboard plays again within 2 s
MIDI_QUIET_S = 2.0  # MIDI failing to start is not reported in the thread's first 2 s: at
# boot the sequencer or the JACK server may still be coming up
MIDI_RETRY_S = 5.0  # once reported, a failing MIDI start is retried (and reported) this often
AUDIO_FIRST_S = 2.0  # longest wait for the audio loop's first attempt to open the sound card


class SoundMapped:
    """Internal: a sound the control thread has mapped from shared memory, to play (``current``)
    or to keep for a keymap."""

    __slots__ = ("sound", "current")

    def __init__(self, sound, current: bool = True) -> None:
        self.sound = sound
        self.current = current


class PortLost:
    """Internal: a MIDI input has gone; release its notes and pedal (no other input's)."""

    __slots__ = ("source",)

    def __init__(self, source: int) -> None:
        self.source = source


class Control:
    """The control thread of an engine, and the deques it shares with the audio loop."""

    def __init__(self, cfg: Config, conn, midi, stats: EngineStats):
        self.cfg = cfg
        self.conn = conn
        self.midi = midi
        self.stats = stats
        self.commands: collections.deque = collections.deque()  # control thread -> audio loop
        self.outbox: collections.deque = collections.deque()  # audio loop -> supervisor
        self.freed: collections.deque = collections.deque()  # sound ids no voice uses
        self.sources_freed: collections.deque = collections.deque()  # lost inputs' notes released
        self.stop = threading.Event()
        self.audio_tried = threading.Event()  # the audio loop has made its first open attempt
        self._shm: Dict[int, shared_memory.SharedMemory] = {}
        self._thread: Optional[threading.Thread] = None
        self._started = 0.0
        self._next_scan = 0.0
        self._midi_ok = False
        self._midi_error = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="engine-control", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except (OSError, EOFError, BrokenPipeError):
            self.stop.set()

    def flush(self) -> None:
        """Send what the audio loop has queued for the supervisor."""
        while self.outbox:
            self.send(self.outbox.popleft())

    def _run(self) -> None:
        self._started = time.monotonic()
        # Open the sound card before any MIDI client: after a crash a sound server (JACK) can take a
        # second to answer the first client that talks to it, and rtmidi's calls hold the GIL, so a
        # MIDI client first made the audio wait twice (measured: 2.6 s to sound, 1.1-1.6 s now)
        self.audio_tried.wait(AUDIO_FIRST_S)
        while not self.stop.is_set():
            try:
                if self.conn.poll(0.1):
                    self._receive(self.conn.recv())
            except (EOFError, OSError):  # the supervisor is gone: stop, do not linger
                self.commands.append(m.Stop())
                self.stop.set()
                break
            except Exception as e:  # a bad message must not kill the control thread
                self.outbox.append(m.Notice("error", "bad message to engine: %r" % e))
            now = time.monotonic()
            if now >= self._next_scan:
                self._next_scan = now + RESCAN_S
                self._scan_midi(now)
            self._release_sounds()
            self.flush()

    def _receive(self, msg) -> None:
        if isinstance(msg, m.LoadSound):
            try:
                shm, sound = attach(msg)
            except (OSError, ValueError, TypeError) as e:
                self.outbox.append(m.Notice("error", "cannot map sound %d: %s" % (msg.sound_id, e)))
                return
            self._shm[msg.sound_id] = shm
            self.commands.append(SoundMapped(sound, msg.current))
        else:
            self.commands.append(msg)

    def _scan_midi(self, now: float) -> None:
        """Start MIDI until it starts, then open new ports and let the audio loop release the
        notes of lost ones; report what changed."""
        if not self._midi_ok:
            self._midi_ok = self.midi.start()
            if self._midi_ok:
                self.outbox.append(
                    m.Notice("info", "MIDI: virtual port ready" if self.cfg.midi.virtual else "MIDI: listening")
                )
            elif now - self._started > MIDI_QUIET_S and self.midi.error:
                self.outbox.append(m.Notice("warning", self.midi.error))
                self._next_scan = now + MIDI_RETRY_S
        if not self._midi_ok:
            return
        # numbers of inputs whose notes the audio loop has released may now go to new ports
        while self.sources_freed:
            self.midi.free_source(self.sources_freed.popleft())
        opened, lost = self.midi.rescan()
        for name in opened:
            self.outbox.append(m.Notice("info", "MIDI port opened: %s" % name))
        for name, source in lost:
            self.outbox.append(m.Notice("warning", "MIDI port lost: %s (its notes released)" % name))
            self.commands.append(PortLost(source))
        if self.midi.error != self._midi_error:
            self._midi_error = self.midi.error
            if self._midi_error:
                self.outbox.append(m.Notice("warning", self._midi_error))
        self.stats.values[INDEX["midi_ports"]] = len(self.midi.port_names)

    def _release_sounds(self) -> None:
        """Close the shared memory of sounds no voice plays; tell the supervisor, which unlinks it."""
        ids = []
        while self.freed:
            sid = self.freed.popleft()
            shm = self._shm.pop(sid, None)
            if shm is None:
                continue
            try:
                shm.close()
            except BufferError:  # a view still exists: try again next time
                self._shm[sid] = shm
                self.freed.append(sid)
                break
            ids.append(sid)
        if ids:
            self.outbox.append(m.SoundsReleased(ids))
