"""Generation as the instrument sees it: the settings a user edits, the generator process kept
running (restarted with a backoff when it dies), jobs submitted and cancelled, and a log of
what happened that every input (panel, web page) reads at its own pace.

The generator is optional: without torch the instrument plays on and says so.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Deque, List, Optional, Tuple

from promptsynth import config as config_mod
from promptsynth.backoff import Backoff
from promptsynth.config import Config, GenerateConfig
from promptsynth.daemon.health import ABSENT, FAILED, OK, Health

if TYPE_CHECKING:  # (imported when the generator starts)
    from promptsynth.generator.params import GenerationParams

log = logging.getLogger("generation")


@dataclass(frozen=True)
class GenSettings:
    """The generation settings a user edits (defaults from [generate] and [model])."""

    model: str
    negative: str
    seconds: float
    steps: int
    guidance: float
    scheduler: str
    candidates: int
    conditioning: str = "padded"
    spacing: str = "trailing"
    seed: Optional[int] = None  # None: a new random seed each time

    @classmethod
    def from_config(cls, cfg: Config, model: Optional[str] = None) -> GenSettings:
        """The settings a start (and a kiosk's idle return) begins with: [generate] and [model]."""
        g = cfg.generate
        return cls(
            model=model or cfg.model.id,
            negative=g.negative,
            seconds=g.seconds,
            steps=g.steps,
            guidance=g.guidance,
            scheduler=g.scheduler,
            candidates=g.candidates,
            conditioning=g.conditioning,
            spacing=g.spacing,
        )


def check_gen(key: str, value) -> Any:
    """A generation setting checked against its one schema ([generate] in the config)."""
    from promptsynth.generator.models import MODELS
    from promptsynth.generator.params import MAX_SEED

    if key == "model":
        if value not in MODELS:
            raise config_mod.ConfigError("model must be one of %s, got %r" % (", ".join(MODELS), value))
        return value
    if key == "seed":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED):
            raise config_mod.ConfigError("seed must be a whole number from 0 to %d, or random" % MAX_SEED)
        return value
    return config_mod.check(GenerateConfig, key, value)


class Generation:
    def __init__(
        self,
        cfg: Config,
        health: Health,
        env: Optional[dict] = None,
        model_override: Optional[str] = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg, self.health, self.env, self.clock = cfg, health, env or {}, clock
        self.model_override = model_override
        self.settings = GenSettings.from_config(cfg, model_override)
        # while started: a GeneratorClient, RemoteClient or AutoClient (one interface)
        self.client: Optional[Any] = None
        self.backoff = Backoff(first=2.0, limit=60.0, grace=1)
        self.log: Deque[Tuple[int, object]] = deque(maxlen=200)  # (sequence number, event)
        self._seq = 0
        self._wanted = False

    # ---- the process ----------------------------------------------------------------------------
    def start(self) -> bool:
        """Start generating where [generator] backend says: the local generator process (it loads
        the model in the background), the generation server, or both (auto). False when there is
        nothing to generate with (no torch for a local model)."""
        backend = self.cfg.generator.backend
        local = self._local() if backend in ("local", "auto") else None
        if backend == "local" and local is None:
            return False
        if backend == "local":
            self.client = local
        else:
            remote = self._remote()
            if remote is None:
                return False
            if backend == "remote" or local is None:
                self.client = remote
            else:
                from promptsynth.remote.auto import AutoClient

                self.client = AutoClient(remote, local, self.cfg.generator.retry)
        assert self.client is not None
        self.client.start()
        self._wanted = True
        self.health.sync("generator", OK, "model %s loading (%s)" % (self.client.model, self.where()))
        log.info("generator started (model %s: %s)", self.client.model, self.where())
        return True

    def _local(self):
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
            self.health.add("generator", state=ABSENT, detail="torch and diffusers are not installed")
            log.warning("generator unavailable: torch and diffusers are not installed (the sampler plays on)")
            return None
        from promptsynth.generator.client import GeneratorClient

        g, m = self.cfg.generate, self.cfg.model
        return GeneratorClient(
            m.id,
            config_mod.state_dir(self.cfg),
            m.device,
            m.threads,
            g.queue,
            g.timeout,
            max_prompt_chars=g.max_prompt_chars,
            env=self.env,
            nice=m.nice,
        )

    def _remote(self):
        from promptsynth.remote.client import RemoteClient

        r, g = self.cfg.generator, self.cfg.generate
        try:
            return RemoteClient(
                r.url,
                r.token,
                self.model_override or self.cfg.model.id,
                r.connect_timeout,
                r.stall_timeout,
                g.queue,
                g.timeout,
                g.max_prompt_chars,
            )
        except ValueError as e:  # no or a bad url: said, and nothing to generate with remotely
            self.health.add("generator", state=FAILED, detail="[generator] url: %s" % e)
            log.error("generator: %s", e)
            return None

    def made_on(self, job: Optional[int]) -> str:
        """For the panel: "server" or "local" where a job is being made; "" when sounds are only
        ever made here."""
        backend = self.cfg.generator.backend
        if backend == "local" or self.client is None:
            return ""
        if backend == "remote":
            return "server"
        return self.client.where(job) if job is not None and hasattr(self.client, "where") else "auto"

    def where(self, job: Optional[int] = None) -> str:
        """Where sounds are made (``job``: where that one is): "local", "server URL", or for auto
        the server with how many jobs fell back to the local model."""
        c = self.client
        backend = self.cfg.generator.backend
        if c is None or backend == "local":
            return "local"
        if backend == "remote":
            return "server %s" % self.cfg.generator.url
        if job is not None and hasattr(c, "where"):
            return c.where(job) if c.where(job) == "local" else "server %s" % self.cfg.generator.url
        falls = getattr(c, "fallbacks", 0)
        return "auto: server %s%s" % (self.cfg.generator.url, ", %d made locally" % falls if falls else "")

    def stop(self) -> None:
        self._wanted = False
        if self.client is not None:
            self.client.stop()
            self.client = None

    @property
    def model_state(self) -> str:
        return self.client.model_state if self.client is not None else "off"

    def queued(self) -> int:
        return len(self.client.queue) if self.client is not None else 0

    def running(self) -> Optional[int]:
        """The id of the job being generated now, if any."""
        if self.client is None or self.client.running is None:
            return None
        return self.client.running[0].job_id

    # ---- settings and jobs ----------------------------------------------------------------------
    def set(self, key: str, value) -> GenSettings:
        """Change one generation setting (checked against the schema; raises ConfigError)."""
        if key == "model" and self.model_override and value != self.model_override:
            # the simulator generates every sound with its tiny model: showing another as chosen
            # (and "ready") while recipes record the tiny one would mislead
            raise config_mod.ConfigError(
                "the simulator generates with %s only (start without --sim for %s)" % (self.model_override, value)
            )
        self.settings = dataclasses.replace(self.settings, **{key: check_gen(key, value)})
        return self.settings

    def submit(self, prompt: str, source_audio=None, source_rate: int = 0, **overrides) -> int:
        """Queue a job with the current settings (``overrides`` replace some); returns its id.
        Sound to sound (``source`` among the overrides) sends the source's samples with it.
        Raises ParamError, ModelError, QueueFull, or RuntimeError when there is no generator."""
        from promptsynth.generator.params import GenerationParams

        if self.client is None:
            part = self.health.parts.get("generator")
            raise RuntimeError("no generator: %s" % (part.detail if part is not None else "not started"))
        p = dataclasses.asdict(self.settings)
        p.update(overrides)
        model = self.model_override or p.pop("model")
        p.pop("model", None)
        job = self.client.submit(GenerationParams(prompt=prompt, **p), model, source_audio, source_rate)
        log.info("generation %d queued: %r", job, prompt[:80])
        return job

    def cancel(self, job: Optional[int] = None) -> int:
        """Cancel one job, or (``job`` None) every queued job and the running one; returns how many."""
        if self.client is None:
            return 0
        running = self.running()
        ids = (
            [job]
            if job is not None
            else [j.job_id for j in self.client.queue] + ([running] if running is not None else [])
        )
        return sum(1 for i in ids if self.client.cancel(i))

    def params_of(self, job: int) -> Optional[GenerationParams]:
        return self.client.params_of(job) if self.client is not None else None

    # ---- events ---------------------------------------------------------------------------------
    def poll(self) -> List[object]:
        """New events from the generator (also kept in the log); restarts a dead generator."""
        if self.client is None:
            return []
        events = self.client.poll(0.0)
        for ev in events:
            self.record(ev)
        now = self.clock()
        local = self.cfg.generator.backend != "remote"  # a server has no process of ours to restart
        if self._wanted and local and self.client.proc is None and self.backoff.due(now):
            self.backoff.failed(now)
            self.client.start()
            log.error("generator process died: restarted it (restart %d)", self.client.restarts)
            self.health.sync("generator", FAILED, "the process died; restarted (restart %d)" % self.client.restarts)
        elif self.client.model_state == "ready":
            self.health.sync("generator", OK, "model %s ready (%s)" % (self.client.model, self.where()))
        return events

    def record(self, ev) -> None:
        """Keep an event for the inputs, and log it."""
        self._seq += 1
        self.log.append((self._seq, ev))
        self._log_event(ev)

    def events_since(self, seq: int) -> Tuple[int, List[object]]:
        """Events after sequence number ``seq``, and the newest number (for the next call)."""
        return self._seq, [ev for s, ev in self.log if s > seq]

    def _log_event(self, ev) -> None:
        from promptsynth.generator import protocol as gm

        if isinstance(ev, gm.ModelStatus):
            if ev.state == "failed":
                self.health.sync("generator", FAILED, "model %s failed to load: %s" % (ev.model, ev.detail))
            else:
                log.info(
                    "model %s: %s%s%s",
                    ev.model,
                    ev.state,
                    " (%.1f s)" % ev.seconds if ev.seconds else "",
                    ": " + ev.detail if ev.detail else "",
                )
        elif isinstance(ev, gm.Result):
            log.info(
                "generation %d done in %.1f s: seed %s", ev.job_id, ev.seconds.get("model", 0.0), ev.recipe.get("seed")
            )
            for w in ev.warnings:
                log.warning("generation %d: %s", ev.job_id, w)
        elif isinstance(ev, gm.Failed):
            # a cancel was asked for: news, not a fault (ERROR is kept for what went wrong)
            level = logging.INFO if ev.kind == "cancelled" else logging.ERROR
            log.log(level, "generation %d %s: %s", ev.job_id, ev.kind, ev.reason)
