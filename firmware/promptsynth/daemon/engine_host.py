"""The engine host: the real-time engine process, the sounds it plays (in shared memory), its
health, and restarts.

The engine is the one part that makes sound, so this is the one place that must never wait on
anything else: sends to a dead engine are dropped (a restart sends the state again), and a
crashed or stuck engine is restarted at once, backing off only after five crashes in a minute.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from typing import Deque, Dict, List, Optional, Sequence

from promptsynth.backoff import Backoff
from promptsynth.config import Config
from promptsynth.engine import messages as m
from promptsynth.engine.shm import publish, release
from promptsynth.engine.sound import PlayableSound
from promptsynth.engine.stats import EngineStats
from promptsynth.engine.zones import Zone

log = logging.getLogger("engine-host")

STUCK_S = 5.0  # a loop that has not gone round for this long is stuck: restart it
HEALTHY_S = 1.0  # the watchdog is petted only while the loop went round this recently
REPEAT_S = 60.0  # the same notice from the engine is logged at most once a minute


class EngineHost:
    def __init__(self, cfg: Config, env: Optional[Dict[str, str]] = None):
        self.cfg = cfg
        self.env = env or {}
        self.ctx = multiprocessing.get_context("spawn")  # a clean process, no inherited threads
        self.stats = EngineStats(self.ctx)
        self.proc: Optional[multiprocessing.process.BaseProcess] = None
        self.conn: Optional[Connection] = None  # our end of the engine's pipe, while it is open
        self.ready: Optional[m.Ready] = None
        self.notices: Deque[m.Notice] = deque(maxlen=200)
        self.program_events: Deque[object] = deque(maxlen=64)  # ProgramChanged / ProgramWanted
        self.restarts = 0
        self.backoff = Backoff(first=2.0, limit=60.0, grace=4, window=60.0)
        self._published: Dict[int, shared_memory.SharedMemory] = {}
        self._said: Dict[str, float] = {}
        self._next_id = 1

    # ---- the process ----------------------------------------------------------------------------
    def start(self) -> None:
        from promptsynth.engine.process import engine_main

        parent, child = self.ctx.Pipe(duplex=True)
        self.proc = self.ctx.Process(
            target=engine_main, args=(self.cfg, child, self.stats, self.env), name="promptsynth-engine", daemon=True
        )
        self.proc.start()
        child.close()
        self.conn = parent
        self.ready = None
        log.info("engine started (pid %d)", self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def healthy(self, stale_s: float = HEALTHY_S) -> bool:
        """The engine process runs and its loop went round within ``stale_s``."""
        return self.alive() and time.monotonic() - self.stats["heartbeat"] < stale_s

    def check(self, now: float) -> bool:
        """Restart a crashed or stuck engine when its backoff allows; True when it was restarted
        (the caller hands it the current sound and settings again)."""
        if self.proc is None:
            return False
        stuck = self.alive() and self.ready is not None and now - self.stats["heartbeat"] > STUCK_S
        if self.alive() and not stuck:
            return False
        if not self.backoff.due(now):
            return False
        if stuck:
            self.proc.kill()
            self.proc.join(2.0)
        self.restarts += 1
        delay = self.backoff.failed(now)
        log.error(
            "engine %s (exit code %s): restarting it with its sound (restart %d)",
            "stuck" if stuck else "crashed",
            self.proc.exitcode,
            self.restarts,
        )
        if delay:
            log.error(
                "engine crashed %d times in a minute: the next restart waits %.0f s", self.backoff.failures, delay
            )
        self._restart()
        return True

    def _restart(self) -> None:
        old = list(self._published.values())
        self._published.clear()
        self._close_conn()
        self.stats.values[:] = 0.0
        self.start()
        for shm in old:  # the dead engine's sounds: nobody maps them now
            release(shm)

    def _close_conn(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def stop(self, timeout: float = 3.0) -> None:
        """Fade out and stop the engine (killed if it does not go)."""
        if self.proc is not None:
            self.send(m.Stop())  # the fade starts now
            end = time.monotonic() + timeout
            while self.proc.is_alive() and time.monotonic() < end:
                self.poll(0.05)
            if self.proc.is_alive():
                log.warning("engine did not stop in %.1f s: killing it", timeout)
                self.proc.kill()
            self.proc.join(1.0)
            self.poll(0.0)
        self._close_conn()
        for shm in self._published.values():
            release(shm)
        self._published.clear()

    # ---- talking to it --------------------------------------------------------------------------
    def send(self, msg) -> bool:
        """Send a message; False (and nothing raised) when the engine is gone: a restart sends
        the current state again."""
        if self.conn is None:
            return False
        try:
            self.conn.send(msg)
            return True
        except (OSError, EOFError):
            self._close_conn()
            return False

    def new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def play(self, sound: PlayableSound, current: bool = True) -> None:
        """Hand a sound to the engine through shared memory; new notes play it (``current``), or
        a keymap will name it (:meth:`set_keymap`)."""
        shm, msg = publish(sound, current)
        self._published[sound.sound_id] = shm
        if not self.send(msg):
            self._published.pop(sound.sound_id, None)
            release(shm)

    def set_keymap(self, zones: Optional[Sequence[Zone]]) -> None:
        """Play notes through ``zones`` (their sounds handed over with ``play(..., current=False)``
        first); None: plain notes play the current sound."""
        self.send(m.SetKeymap(None if zones is None else tuple(zones)))

    def published(self) -> List[int]:
        """Ids of the sounds whose shared memory is still held for the engine."""
        return list(self._published)

    def poll(self, timeout: float = 0.0, wake=None) -> List[object]:
        """Take what the engine sent: notices are logged, released sounds unlinked; returns all.
        Waits up to ``timeout`` for the first message, or until ``wake`` (anything with a
        fileno: the network's queued requests) becomes readable."""
        got: List[object] = []
        if wake is not None and timeout > 0 and self.conn is not None:
            try:
                mp_wait([self.conn, wake], timeout)
            except (OSError, ValueError):  # a closed pipe: the loop below finds it
                pass
            timeout = 0.0
        try:
            while self.conn is not None and self.conn.poll(timeout):
                msg = self.conn.recv()
                got.append(msg)
                timeout = 0.0
                if isinstance(msg, m.Notice):
                    self.notices.append(msg)
                    self._log_notice(msg)
                elif isinstance(msg, m.SoundsReleased):
                    for sid in msg.sound_ids:
                        shm = self._published.pop(sid, None)
                        if shm is not None:
                            release(shm)
                elif isinstance(msg, (m.ProgramChanged, m.ProgramWanted)):
                    self.program_events.append(msg)
                elif isinstance(msg, m.Ready):
                    self.ready = msg
                    log.info("playable: %s, %d Hz, %d frames buffered", msg.format, msg.rate, msg.buffer_frames)
        except (EOFError, OSError):
            self._close_conn()
        return got

    def _log_notice(self, msg: m.Notice) -> None:
        """Log what the engine says, but a notice it repeats (a missing device, retried) once a
        minute at most: a kiosk's journal must not fill with one line."""
        now = time.monotonic()
        if now - self._said.get(msg.text, -REPEAT_S) < REPEAT_S:
            return
        self._said[msg.text] = now
        if len(self._said) > 256:
            self._said = {t: w for t, w in self._said.items() if now - w < REPEAT_S}
        getattr(log, msg.level if msg.level in ("info", "warning", "error") else "info")("%s", msg.text)

    def wait_ready(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while self.ready is None and time.monotonic() < end:
            self.poll(0.05)
        return self.ready is not None
