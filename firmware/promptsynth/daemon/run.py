"""The daemon's run loop, top to bottom.

Start-up:
  1. the engine first: the instrument is playable before anything else exists
  2. the last state (or the start-up sound) into it
  3. the generator, loading its model in the background
  4. the front panel: the display and the inputs named in [panel]
  5. the network, only where the config turns it on: the web page ([web]) and OSC ([osc])
Then, about 50 times a second, each step contained (a step that raises marks its part failed
and is retried after a backoff; nothing but the engine itself can take the sound down):
  6. the engine: its messages; a crashed or stuck one is restarted with its sound
  7. the instrument: generated sounds taken in, held-back edits applied
  8. the front panel: inputs handled, the screen redrawn if something changed;
     then the web page's and OSC's requests (web/bridge.py: a bounded slice of each round)
  9. a prompt given on the command line, once the model is ready
  10. systemd: READY once audio flows, WATCHDOG while the engine is healthy, STATUS on change
Stop: the engine fades out, the state is saved, the children end.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Dict, List, Optional

from promptsynth.config import Config, state_dir
from promptsynth.daemon.engine_host import EngineHost
from promptsynth.daemon.frontpanel import FrontPanel
from promptsynth.daemon.generation import Generation
from promptsynth.daemon.health import FAILED, OK, Health, health_path, write_health
from promptsynth.daemon.instrument import Instrument
from promptsynth.daemon.network import Network
from promptsynth.daemon.notify import Notifier

log = logging.getLogger("daemon")

LOOP_S = 0.02  # one round of the loop waits at most this long for the engine
READY_ANYWAY_S = 10.0  # without a sound card, READY after this long (a missing card is no restart loop)


class Daemon:
    def __init__(
        self,
        cfg: Config,
        env: Optional[Dict[str, str]] = None,
        model_override: Optional[str] = None,
        prompt: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
        notifier=None,
        evdev=None,
        gpio=None,
        config_path: Optional[str] = None,
    ):
        """``model_override``: generate every sound with this model (the simulator's tiny one).
        ``evdev``, ``gpio``: the hardware modules, for tests that make them fail."""
        self.cfg, self.clock = cfg, clock
        self.health = Health(clock)
        self.host = EngineHost(cfg, env)
        self.gen = Generation(cfg, self.health, env, model_override, clock)
        self.inst = Instrument(cfg, self.host, self.gen, self.health, clock)
        self.notifier = notifier or Notifier()
        self.front: Optional[FrontPanel] = None
        self.prompt = prompt
        self._hw = (evdev, gpio)
        self._started = 0.0
        self._ready_sent = False
        self._last_pet = 0.0
        self._health_seen = -1
        self._xruns = 0
        self._health_file = health_path(state_dir(cfg))
        self.config_path = config_path
        self.network = Network(cfg, self.health, self.inst, config_path)

    def start(self, generator: bool = True) -> None:
        self._started = self.clock()
        # 1. the engine first
        self.host.start()
        # 2. the last state (or the start-up sound: even a broken library leaves a sound to play)
        if not self.health.guard("library", self.inst.restore, default=False):
            self.inst.play_startup_sound()
        # 3. the generator, loading in the background
        if generator:
            self.health.guard("generator", self.gen.start)
        # 4. the front panel (a page that raises is tried again soon: 0.2 s, growing to 5 s)
        self.health.add("panel", first=0.2, limit=5.0)
        self.front = self.health.guard("panel", FrontPanel, self.cfg, self.inst, self.health, self.clock, *self._hw)
        # 5. the network (nothing listens unless [web] or [osc] says so)
        self.network.start()

    def step(self) -> None:
        """One round of the loop; every part contained."""
        h = self.health
        # 6. the engine
        h.guard("engine", self.host.poll, LOOP_S, self.network.wake)
        now = self.clock()
        if h.guard("engine", self.host.check, now):
            h.sync("engine", FAILED, "restarted after a crash (restart %d)" % self.host.restarts)
            h.guard("library", self.inst.engine_restarted)
        elif self.host.ready is not None and self.host.healthy():
            h.sync("engine", OK)
        if self.host.stats["periods"] > 0:  # the engine has tried its sound card
            h.sync(
                "audio",
                "ok" if self.host.stats["audio_ok"] else "absent",
                self.cfg.audio.device
                if self.host.stats["audio_ok"]
                else "%s unavailable, retrying every second" % self.cfg.audio.device,
            )
        # 7. the instrument
        h.guard("instrument", self.inst.poll, now)
        # 8. the front panel, then the network's requests
        if self.front is not None:
            h.guard("panel", self.front.step, now)
        self.network.step()
        # 9. a prompt from the command line, once the model is ready
        if self.prompt and self.gen.model_state in ("ready", "failed", "off"):
            prompt, self.prompt = self.prompt, None
            try:
                self.inst.generate(prompt)
            except Exception as e:  # a bad prompt is an error line, never a crash
                log.error("prompt refused: %s", e)
        # 10. systemd, and the health file for `doctor`
        self._tell_systemd(now)

    def _tell_systemd(self, now: float) -> None:
        engine_ok = self.host.healthy()
        if not self._ready_sent and (
            self.host.ready is not None or (now - self._started > READY_ANYWAY_S and engine_ok)
        ):
            self.notifier.ready(
                "playing" if self.host.ready is not None else "no audio device yet: retrying every second"
            )
            self._ready_sent = True
        if self._ready_sent and now - self._last_pet > 1.0 and engine_ok:  # only while healthy
            self.notifier.watchdog()
            self._last_pet = now
        if self.health.changes != self._health_seen:
            self._health_seen = self.health.changes
            self.notifier.status(
                ("playing" if self.host.ready is not None else "no audio device yet") + "; " + self.health.summary()
            )
            why = write_health(self.health, self._health_file)
            if why:
                log.warning("health file %s not written: %s", self._health_file, why)
        xr = int(self.host.stats["xruns"])
        if xr > self._xruns:
            log.warning("audio: %d xruns so far", xr)
            self._xruns = xr

    @property
    def stop_requested(self) -> bool:
        return self.front is not None and self.front.closed

    def stop(self) -> None:
        """Fade the sound out, save the state, stop the children: each step runs whatever the
        others do (and whatever state its part is in)."""
        self.notifier.stopping()
        steps: List[Callable[[], object]] = [self.network.stop, self.inst.save_state, self.gen.stop, self.host.stop]
        if self.front is not None:
            steps.insert(0, self.front.stop)
        for fn in steps:
            try:
                fn()
            except Exception:  # stopping goes on: the engine must still fade out
                log.exception("while stopping")


def run(
    cfg: Config,
    env: Optional[Dict[str, str]] = None,
    model_override: Optional[str] = None,
    prompt: Optional[str] = None,
    stop_reason: Callable[[], Optional[str]] = lambda: None,
    config_path: Optional[str] = None,
) -> int:
    """Run the instrument until ``stop_reason()`` says why to stop (a signal), or the
    simulator's window closes."""
    d = Daemon(cfg, env, model_override, prompt, config_path=config_path)
    try:
        d.start()
        while True:
            why = stop_reason() or ("the window was closed" if d.stop_requested else None)
            if why:
                log.info("stopping (%s)", why)
                break
            try:
                d.step()
            except Exception:  # the last line of defence: log it, keep the loop (and the sound) alive
                log.exception("daemon loop error (carrying on)")
                time.sleep(LOOP_S)
    finally:
        d.stop()
    return 0
