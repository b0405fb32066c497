"""The supervisor: owns the state, starts the engine process, hands it sounds.

The front panel, the generator and the library plug in here (later issues); for now it loads
the start-up sound, runs the engine, logs what the engine reports, and stops it cleanly.
"""
from __future__ import annotations

import logging
import multiprocessing
import time
from multiprocessing import shared_memory
from typing import Dict, List, Optional, Tuple

import numpy as np

from promptsynth.config import Config
from promptsynth.engine import messages as m
from promptsynth.engine.shm import publish
from promptsynth.engine.sound import PlayableSound, init_sound
from promptsynth.engine.stats import EngineStats

log = logging.getLogger("supervisor")


def build_sound(cfg: Config, audio: np.ndarray, sound_id: int, name: str = "", root: Optional[int] = None,
                own_loop: Optional[Tuple[int, int]] = None) -> PlayableSound:
    """A playable sound from audio at the engine rate, with the [sampler] settings applied."""
    from promptsynth.library.intake import playable
    from promptsynth.library.presets import sampler_settings
    s = sampler_settings(cfg.sampler)
    if root is not None:
        s["root"] = root
    return playable(audio, cfg.audio.rate, s, sound_id, name=name, own_loop=own_loop)


def startup_sound(cfg: Config, sound_id: int = 1) -> Tuple[PlayableSound, Optional[str]]:
    """The configured sound file, or the init sound (also when the file cannot be used).

    Returns the sound and, if the file was refused, why: the instrument must make a sound.
    """
    rate = cfg.audio.rate
    problem = None
    if cfg.sampler.sound:
        from promptsynth.library.audiofile import AudioFileError, read
        try:
            data = read(cfg.sampler.sound, rate)
            return build_sound(cfg, data.audio, sound_id, name=cfg.sampler.sound, own_loop=data.loop), None
        except AudioFileError as e:
            problem = "%s; playing the init sound instead" % e
    audio, loop = init_sound(rate)
    return build_sound(cfg, audio, sound_id, name="init", root=60, own_loop=loop), problem


VOICE_KEYS = {"attack": "attack", "decay": "decay", "sustain": "sustain", "release": "release", "gain": "gain_db",
              "velocity_track": "velocity_track", "bend_range": "bend_range", "vibrato_rate": "vibrato_rate",
              "vibrato_depth": "vibrato_depth", "polyphony": "polyphony"}


class Supervisor:
    def __init__(self, cfg: Config, env: Optional[Dict[str, str]] = None, model_override: Optional[str] = None):
        """``model_override``: generate every sound with this model (the simulator's tiny one)."""
        from promptsynth.config import state_dir
        from promptsynth.library.presets import Preset, PresetStore, sampler_settings
        from promptsynth.library.sounds import SoundLibrary
        self.cfg = cfg
        self.env = env or {}
        self.generator = None
        self.loaded: List[str] = []            # names of sounds handed to the engine, in order
        self.library = SoundLibrary(state_dir(cfg))
        self.presets = PresetStore(state_dir(cfg))
        self.current = Preset(name="Init", sound="init", sampler=sampler_settings(cfg.sampler))
        self._awaiting: Dict[int, object] = {}   # job id -> preset whose sound it makes
        self.model_override = model_override
        self.engine_crashes: List[float] = []
        self.engine_restarts = 0
        self._engine_retry = 0.0
        self._gen_retry = 0.0
        self._gen_wanted = False
        self._panel_events: List[object] = []   # generator events, for the front panel
        self._audio_cache = (None, None)
        self.ctx = multiprocessing.get_context("spawn")   # CUDA and a clean engine both need spawn
        self.stats = EngineStats(self.ctx)
        self.proc = None
        self.conn = None
        self.ready: Optional[m.Ready] = None
        self.notices: List[m.Notice] = []
        self._shm: Dict[int, shared_memory.SharedMemory] = {}
        self._next_id = 1

    def new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def start(self) -> None:
        from promptsynth.engine.process import engine_main
        parent, child = self.ctx.Pipe(duplex=True)
        self.proc = self.ctx.Process(target=engine_main, args=(self.cfg, child, self.stats, self.env),
                                     name="promptsynth-engine", daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        log.info("engine started (pid %d)", self.proc.pid)

    def send(self, msg) -> None:
        self.conn.send(msg)

    def load(self, sound: PlayableSound) -> None:
        """Hand a sound to the engine (through shared memory)."""
        shm, msg = publish(sound)
        self._shm[sound.sound_id] = shm
        self.send(msg)

    def restore(self) -> None:
        """Play what was played last (the state on disk), else the configured start-up sound."""
        preset, problem = self.presets.load_state()
        if problem:
            log.error("%s", problem)
        if preset is not None and preset.sound not in (None, "init"):
            if self.load_preset(preset, generate=False):
                log.info("restored the last state: %s", preset.name)
                return
        self.load_startup_sound()

    def load_startup_sound(self) -> PlayableSound:
        sound, problem = startup_sound(self.cfg, self.new_id())
        if problem:
            log.error("%s", problem)
        self.load(sound)
        log.info("sound: %s (%.2f s, root %d, loop %s)", sound.name, sound.frames / self.cfg.audio.rate, sound.root,
                 sound.loop_mode)
        return sound

    # ---- generator ------------------------------------------------------------------------------
    def start_generator(self) -> bool:
        """Start the generator process (it loads the model in the background). False without torch."""
        import importlib.util
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
            log.warning("generator unavailable: torch and diffusers are not installed (the sampler plays on)")
            return False
        from promptsynth.config import state_dir
        from promptsynth.generator.client import GeneratorClient
        g = self.cfg.generate
        m = self.cfg.model
        self.generator = GeneratorClient(m.id, state_dir(self.cfg), m.device, m.threads, g.queue, g.timeout,
                                         max_prompt_chars=g.max_prompt_chars, env=self.env)
        self.generator.start()
        self._gen_wanted = True
        log.info("generator started (model %s loads in the background)", m.id)
        return True

    def generate(self, prompt: str, model: Optional[str] = None, **overrides) -> int:
        """Queue a generation with the config's defaults; returns the job id (raises on bad input)."""
        from promptsynth.generator.params import GenerationParams
        g = self.cfg.generate
        p = dict(prompt=prompt, negative=g.negative, seconds=g.seconds, steps=g.steps, guidance=g.guidance,
                 scheduler=g.scheduler, candidates=g.candidates)
        p.update(overrides)
        job = self.generator.submit(GenerationParams(**p), model=self.model_override or model)
        log.info("generation %d queued: %r", job, p["prompt"][:80])
        return job

    def _generator_event(self, ev) -> None:
        from promptsynth.generator import protocol as gm
        if isinstance(ev, gm.ModelStatus):
            level = log.error if ev.state == "failed" else log.info
            level("model %s: %s%s%s", ev.model, ev.state, " (%.1f s)" % ev.seconds if ev.seconds else "",
                  ": " + ev.detail if ev.detail else "")
        elif isinstance(ev, gm.Result):
            log.info("generation %d done in %.1f s: seed %s -> %s", ev.job_id, ev.seconds.get("model", 0.0),
                     ev.recipe.get("seed"), ev.paths[0])
            for w in ev.warnings:
                log.warning("generation %d: %s", ev.job_id, w)
            self._take_result(ev)
        elif isinstance(ev, gm.Failed):
            log.error("generation %d %s: %s", ev.job_id, ev.kind, ev.reason)

    def _take_result(self, ev) -> None:
        """Shape the best candidate, keep it in the library, play it, make it the current state."""
        import soundfile as sf

        from promptsynth.library.intake import name_from_prompt, settings_for, shape_and_store
        from promptsynth.library.presets import Preset
        preset = self._awaiting.pop(ev.job_id, None)
        try:
            raw, rate = sf.read(ev.paths[0], dtype="float32")
            recipe = dict(ev.recipe)
            if preset is not None:
                recipe["recipe_key"] = preset.recipe_key()
            sid, meta = shape_and_store(self.library, raw, rate, recipe, self.cfg.audio.rate)
        except Exception as e:              # a result that cannot be shaped or stored: say so, play on
            log.error("generation %d could not be kept: %s", ev.job_id, e)
            return
        base = dict(preset.sampler) if preset is not None else dict(self.current.sampler)
        if preset is None:                  # a new sound: its own root and loop, not the last one's
            base.update(loop_mode="auto", loop_start=0.0, loop_end=0.0, start=0.0, end=0.0)
        name = preset.name if preset is not None else name_from_prompt(str(recipe.get("prompt", "")))
        new = Preset(name=name, bank=preset.bank if preset is not None else "user", sound=sid,
                     sampler=settings_for(meta, base), generation={k: v for k, v in recipe.items()
                                                                   if k in ("prompt", "negative", "model", "seconds",
                                                                            "steps", "guidance", "scheduler", "seed")})
        pitch = (meta.get("analysis") or {}).get("pitch") or {}
        log.info("sound %s kept: root %s%s, loop %s", sid, new.sampler.get("root"),
                 " (%+.0f cents)" % pitch["cents"] if pitch.get("pitched") else " (unpitched)",
                 new.sampler.get("loop_mode"))
        self.load_preset(new, generate=False)

    def load_preset(self, preset, generate: bool = True) -> bool:
        """Play a preset: its sound from the library (made first if it is a recipe), its settings
        in the engine, and remember it as the current state. False if its sound is missing."""
        from promptsynth.library.intake import playable
        from promptsynth.library.sounds import LibraryError
        sid = preset.sound
        if sid is None and preset.generation:
            cached = [e for e in self.library.entries()[0]
                      if (e.meta.get("recipe") or {}).get("recipe_key") == preset.recipe_key()]
            if cached:
                sid = cached[0].id
            elif generate and self.generator is not None:
                g = dict(preset.generation)
                job = self.generate(g.pop("prompt"), **g)
                self._awaiting[job] = preset
                return True
            else:
                log.error("preset %s: its sound has not been generated yet", preset.name)
                return False
        try:
            if sid == "init":
                audio, loop = init_sound(self.cfg.audio.rate)
                meta = {"rate": self.cfg.audio.rate, "analysis": {"pitch": {"pitched": True, "note": 60, "cents": 0.0},
                                                                  "loop": {"start": loop[0], "end": loop[1],
                                                                           "crossfade": 0}}}
                from promptsynth.library.intake import settings_for
                settings = settings_for(meta, preset.sampler)
            else:
                audio, rate, meta = self.library.load(sid)
                settings = dict(preset.sampler)
        except LibraryError as e:
            log.error("preset %s: %s", preset.name, e)
            return False
        sound = playable(audio, self.cfg.audio.rate, settings, self.new_id(), name=str(meta.get("name", sid)))
        self.load(sound)
        self._send_voice_settings(settings)
        preset.sound, preset.sampler = sid, settings
        self.current = preset
        self.loaded.append(str(sid))
        try:
            self.presets.save_state(preset)
        except OSError as e:
            log.error("could not save the state: %s", e)
        return True

    def take_panel_events(self) -> List[object]:
        ev, self._panel_events = self._panel_events, []
        return ev

    def apply_setting(self, key: str, value) -> None:
        """A sampler setting changed on the panel: tune and root follow sounding notes, voice settings
        reach the engine; the state is saved."""
        from promptsynth.engine import messages as em
        s = self.current.sampler
        s[key] = value
        if key in ("root", "tune"):
            self.send(em.SetTune(int(s.get("root", 60)), float(s.get("tune", 0.0))))
        elif key in VOICE_KEYS:
            self.send(em.SetParams({VOICE_KEYS[key]: value}))
        self._save_state()

    def current_audio(self):
        """The audio of the sound being played (for the waveform), cached by sound id."""
        sid = self.current.sound
        if self._audio_cache[0] == sid:
            return self._audio_cache[1]
        try:
            audio = init_sound(self.cfg.audio.rate)[0] if sid in (None, "init") else self.library.load(sid)[0]
        except Exception:
            audio = None
        self._audio_cache = (sid, audio)
        return audio

    def reload_current(self) -> None:
        """Start and loop points changed: prepare the sound again (notes already sounding play on)."""
        from promptsynth.library.intake import playable
        audio = self.current_audio()
        if audio is None:
            return
        sound = playable(audio, self.cfg.audio.rate, self.current.sampler, self.new_id(), name=self.current.name)
        self.load(sound)
        self._save_state()

    def _save_state(self) -> None:
        try:
            self.presets.save_state(self.current)
        except OSError as e:
            log.error("could not save the state: %s", e)

    def save_preset(self, name: str, bank: str = "user") -> str:
        import dataclasses
        p = dataclasses.replace(self.current, name=name, bank=bank)
        return self.presets.save(p)

    def load_file(self, path: str, root: Optional[int] = None) -> Optional[PlayableSound]:
        """Load a sound file (any rate) into the engine; an unreadable file is logged, not raised."""
        from promptsynth.library.audiofile import AudioFileError, read
        try:
            data = read(path, self.cfg.audio.rate)
        except AudioFileError as e:
            log.error("%s", e)
            return None
        sound = build_sound(self.cfg, data.audio, self.new_id(), name=path, root=root, own_loop=data.loop)
        self.load(sound)
        self.loaded.append(path)
        log.info("sound: %s (%.2f s)", path, sound.frames / self.cfg.audio.rate)
        return sound

    def poll(self, timeout: float = 0.0) -> List[object]:
        """Handle what the engine and the generator have sent; returns the engine's messages."""
        if self.generator is not None:
            for ev in self.generator.poll(0.0):
                self._generator_event(ev)
                self._panel_events.append(ev)
                del self._panel_events[:-200]
        got = []
        try:
            while self.conn is not None and self.conn.poll(timeout):
                msg = self.conn.recv()
                got.append(msg)
                timeout = 0.0
                if isinstance(msg, m.Notice):
                    self.notices.append(msg)
                    getattr(log, msg.level if msg.level in ("info", "warning", "error") else "info")("%s", msg.text)
                elif isinstance(msg, m.SoundsReleased):
                    for sid in msg.sound_ids:
                        shm = self._shm.pop(sid, None)
                        if shm is not None:
                            shm.close()
                            shm.unlink()
                elif isinstance(msg, m.Ready):
                    self.ready = msg
                    log.info("playable: %s, %d Hz, %d frames buffered", msg.format, msg.rate, msg.buffer_frames)
        except (EOFError, OSError):
            self.conn = None
        return got

    def wait_ready(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while self.ready is None and time.monotonic() < end:
            self.poll(0.05)
        return self.ready is not None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    # ---- health -----------------------------------------------------------------------------------
    def engine_healthy(self, stale_s: float = 1.0) -> bool:
        """The engine process runs and its loop went round within ``stale_s``."""
        return self.alive() and time.monotonic() - self.stats["heartbeat"] < stale_s

    def check(self) -> Optional[str]:
        """Restart what crashed; returns a line for the panel when something happened.

        A crashed engine comes back with the sound and settings it had (a short gap, counted);
        after 5 crashes within a minute the restarts back off (2 s, 4 s ... 60 s) and the error
        stays visible instead of a tight loop. A crashed generator is restarted the same way.
        """
        now = time.monotonic()
        msg = None
        stuck = self.alive() and self.ready is not None and now - self.stats["heartbeat"] > 5.0
        if (self.proc is not None and not self.proc.is_alive()) or stuck:
            if stuck:
                self.proc.kill()
                self.proc.join(2.0)
            if now >= self._engine_retry:
                code = self.proc.exitcode
                self.engine_crashes.append(now)
                recent = [t for t in self.engine_crashes if now - t < 60.0]
                self.engine_restarts += 1
                log.error("engine %s (exit code %s): restarting it with its sound (restart %d)",
                          "stuck" if stuck else "crashed", code, self.engine_restarts)
                if len(recent) >= 5:
                    delay = min(2.0 ** (len(recent) - 4), 60.0)
                    self._engine_retry = now + delay
                    log.error("engine crashed %d times in a minute: next restart in %.0f s", len(recent), delay)
                self._restart_engine()
                msg = "engine restarted"
        if self.generator is not None and self.generator.proc is None and now >= self._gen_retry \
                and self._gen_wanted:
            self.generator.start()
            self._gen_retry = now + min(2.0 ** min(self.generator.restarts, 6), 60.0)
            log.error("generator process died: restarted it (restart %d)", self.generator.restarts)
            msg = "generator restarted"
        return msg

    def _restart_engine(self) -> None:
        old = dict(self._shm)
        self._shm.clear()
        try:
            if self.conn is not None:
                self.conn.close()
        except OSError:
            pass
        self.conn = None
        self.ready = None
        self.stats.values[:] = 0.0
        self.start()
        for shm in old.values():             # the dead engine's sounds: nobody maps them now
            try:
                shm.close()
                shm.unlink()
            except (OSError, BufferError):
                pass
        if not self.load_preset(self.current, generate=False):   # it sends the voice settings too
            self.load_startup_sound()
            self._send_voice_settings(self.current.sampler)

    def _send_voice_settings(self, settings: Dict[str, object]) -> None:
        from promptsynth.engine import messages as em
        changes = {VOICE_KEYS[k]: settings[k] for k in VOICE_KEYS if k in settings}
        if changes:
            self.send(em.SetParams(changes))

    def stop(self, timeout: float = 3.0) -> None:
        """Fade out and stop the engine (killed if it does not go), and stop the generator."""
        if self.proc is not None:
            try:
                if self.conn is not None:
                    self.send(m.Stop())      # the fade starts now, while the generator stops
            except (OSError, EOFError):
                pass
        self._gen_wanted = False
        if self.generator is not None:
            self.generator.stop()
            self.generator = None
        if self.proc is not None:
            end = time.monotonic() + timeout
            while self.proc.is_alive() and time.monotonic() < end:
                self.poll(0.05)
            if self.proc.is_alive():
                log.warning("engine did not stop in %.1f s: killing it", timeout)
                self.proc.kill()
            self.proc.join(1.0)
            self.poll(0.0)
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        for shm in self._shm.values():
            try:
                shm.close()
                shm.unlink()
            except (OSError, BufferError):
                pass
        self._shm.clear()
