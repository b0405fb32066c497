"""The instrument: what a user plays and edits, behind one small API.

It holds the current preset (a sound and its settings), reads and writes the library and the
presets, applies edits live, and takes generated sounds in. The front panel, the command line
and any later input (web page, network control) use these methods and nothing behind them.

Every method that touches the disk reports a failure (full or read-only disk) as the
`library` part's health and returns normally: the sound keeps playing whatever the disk does.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from promptsynth import config as config_mod
from promptsynth.config import Config, SoundSettings
from promptsynth.daemon import preset_sound
from promptsynth.daemon.engine_host import EngineHost
from promptsynth.daemon.generation import Generation
from promptsynth.daemon.health import FAILED, Health
from promptsynth.daemon.recorder import Recorder, make_recorder
from promptsynth.daemon.state_saver import StateSaver
from promptsynth.daemon.transform import Variations
from promptsynth.engine import messages as em
from promptsynth.engine.params import VOICE_KEYS, voice_changes
from promptsynth.library.atomic import DiskFullError
from promptsynth.library.kits import KitJob
from promptsynth.library.presets import FACTORY, Preset, PresetStore, sampler_settings
from promptsynth.library.sounds import LibraryError, SoundLibrary
from promptsynth.log import describe

# (where they were first: importers keep working)
startup_sound, complete_settings = preset_sound.startup_sound, preset_sound.complete_settings

log = logging.getLogger("instrument")

POINT_KEYS = ("start", "end", "loop_mode", "loop_start", "loop_end", "crossfade")
PROGRAM_SOUNDS = 96  # sounds Program Change keeps resident (of the engine's 160 slots)
POINTS_EVERY_S = 0.2  # start/loop edits prepare the sound again at most 5 times a second


@dataclass(frozen=True)
class Meters:
    """What the engine reports, for display: taken from its shared stats, never waiting."""

    voices: int
    peak: float
    xruns: int
    midi_ports: int
    audio_ok: bool
    cc_count: int
    cc_number: int
    cc_value: int
    clock_bpm: float = 0.0  # the MIDI clock's tempo, 0 when none arrives
    note_count: int = 0  # note-ons so far, and the key of the last one
    last_note: int = -1

    @classmethod
    def of(cls, v) -> Meters:
        return cls(
            int(v["voices"]),
            float(v["peak"]),
            int(v["xruns"]),
            int(v["midi_ports"]),
            v["audio_ok"] > 0,
            int(v["cc_count"]),
            int(v["cc_number"]),
            int(v["cc_value"]),
            float(v["clock_bpm"]),
            int(v["note_on_count"]),
            int(v["last_note"]),
        )


class Instrument:
    def __init__(
        self,
        cfg: Config,
        host: EngineHost,
        gen: Generation,
        health: Health,
        clock: Callable[[], float] = time.monotonic,
    ):
        state = config_mod.state_dir(cfg)
        self.cfg, self.host, self.gen, self.health, self.clock = cfg, host, gen, health, clock
        self.library = SoundLibrary(state)
        self.store = PresetStore(state)
        from promptsynth.library.manage import clean_generated

        try:  # raw model output the library has stored (a generate run cut short, an older version)
            clean_generated(state, self.library)
        except OSError as e:
            log.warning("raw generations not cleaned up: %s", describe(e))
        self.current = Preset(name="Init", sound="init", sampler=sampler_settings(cfg.sampler))
        self.gen_defaults = gen.settings  # [generate] and [model]: what the kiosk's idle return restores
        self._awaiting: Dict[int, Preset] = {}  # job id -> the preset whose sound it makes
        self._points_due: Optional[float] = None
        self.saver = StateSaver(self.store, health, clock)
        self._audio: Tuple[Optional[str], Optional[np.ndarray]] = (None, None)
        self._programs_bank: Optional[str] = None  # the bank Program Change holds resident
        self._program_presets: Dict[Tuple[int, int], Preset] = {}  # ... each as made resident
        self.kit: Optional[KitJob] = None  # the kit being generated (or the last one)
        self._kit_saved = False  # its preset is saved as it stands
        self._kit_name: Optional[str] = None  # ... under this name (a re-rolled pad replaces it)
        self.variations: Optional[Variations] = None  # variations of a sound, to audition
        self.recorder: Optional[Recorder] = None  # takes from the audio input, where there is one
        if cfg.audio.capture_device:
            self.recorder = make_recorder(cfg.audio)

    # ---- reading --------------------------------------------------------------------------------
    def meters(self) -> Meters:
        return Meters.of(self.host.stats)

    def presets(self) -> List[Preset]:
        """Every preset (factory first); unreadable files are skipped and logged. A preset whose
        stored sound is gone has ``missing_sound`` set (loading it generates it again from its
        recipe, where it has one)."""
        from promptsynth.library.manage import mark_missing

        presets, problems = self.store.list()
        for p in problems:
            log.warning("%s", p)
        return mark_missing(self.library, presets)

    def preset(self, bank: str, name: str) -> Preset:
        """A preset by bank and name (raises LibraryError naming what is missing)."""
        return self.store.get(bank, name)

    def current_audio(self) -> Optional[np.ndarray]:
        """The audio of the sound being played (for the waveform), cached by sound id."""
        sid = self.current.sound or "init"
        if self._audio[0] != sid:
            try:
                self._audio = (
                    sid,
                    preset_sound.load(self.library, sid, self.current.sampler, self.cfg.audio.rate).audio,
                )
            except (LibraryError, OSError) as e:
                log.error("sound %s unreadable: %s", sid, e)
                self._audio = (sid, None)
        return self._audio[1]

    # ---- playing --------------------------------------------------------------------------------
    def restore(self) -> bool:
        """Play what was played last (the state on disk), else the configured start-up sound."""
        preset, problem = self.store.load_state()
        if problem:
            log.error("%s", problem)
        if preset is not None and preset.sound not in (None, "init") and self.load_preset(preset, generate=False):
            log.info("restored the last state: %s", preset.name)
            return True
        self.play_startup_sound()
        return True

    def play_startup_sound(self) -> None:
        sound, problem = preset_sound.startup_sound(self.cfg, self.host.new_id())
        if problem:
            log.error("%s", problem)
        self.host.play(sound)
        self.host.send(em.SetParams(voice_changes(self.current.sampler)))
        log.info(
            "sound: %s (%.2f s, root %d, loop %s)",
            sound.name,
            sound.frames / self.cfg.audio.rate,
            sound.root,
            sound.loop_mode,
        )

    def engine_restarted(self) -> None:
        """A new engine process knows nothing: hand it the current sound and settings again, and
        the programs."""
        self._programs_bank = None
        if not self.load_preset(self.current, generate=False):
            self.play_startup_sound()
        self._bank_changed()

    def load_preset(self, preset: Preset, generate: bool = True) -> bool:
        """Play a preset: its sound from the library (generated first if it is only a recipe, or
        its sound is gone), its settings in the engine; it becomes the current state. False if
        it has no sound to play (nor a generator to make one)."""
        from promptsynth.library.intake import playable

        if preset.zones:
            return self._load_zones(preset)
        sid = preset_sound.sound_id_for(self.library, preset)
        if sid is None:
            if generate and self.gen.client is not None:
                g = dict(preset.generation)
                self._awaiting[self._submit(g.pop("prompt"), **g)] = preset
                return True
            log.error("preset %s: its sound has not been generated yet", preset.name)
            return False
        try:
            a = preset_sound.load(self.library, sid, preset.sampler, self.cfg.audio.rate)
        except (LibraryError, OSError) as e:
            log.error("preset %s: %s", preset.name, e)
            return False
        self.host.set_keymap(None)  # plain notes play the preset's one sound
        self.host.play(playable(a.audio, self.cfg.audio.rate, a.settings, self.host.new_id(), name=a.name))
        self.host.send(em.SetParams(voice_changes(a.settings)))
        self.current = dataclasses.replace(preset, sound=a.sound, sampler=a.settings)
        self.save_state()
        self._bank_changed()
        return True

    def play_sound(self, sound_id: str) -> bool:
        """Play a library sound with its own root and loop (as an import or a recording plays),
        over the current settings; False (logged) when it cannot be read."""
        from promptsynth.library.intake import settings_for

        try:
            meta = self.library.meta(sound_id)
        except (LibraryError, OSError) as e:
            log.error("sound %s: %s", sound_id, describe(e))
            return False
        base = dataclasses.replace(
            self.current.sampler, loop_mode="auto", loop_start=0.0, loop_end=0.0, start=0.0, end=0.0
        )
        return self.load_preset(
            Preset(name=str(meta.get("name") or sound_id), sound=sound_id, sampler=settings_for(meta, base)),
            generate=False,
        )

    def note(self, key: int, velocity: int, channel: int = 0) -> None:
        """Play a note as a keyboard does (velocity 0: release it); out-of-range values are refused."""
        if not (0 <= key <= 127 and 0 <= velocity <= 127 and 0 <= channel <= 15):
            raise ValueError("a note needs key 0-127, velocity 0-127 and channel 0-15")
        status = (0x90 if velocity else 0x80) | channel
        self.host.send(em.Midi(bytes([status, key, velocity])))

    def _bank_changed(self) -> None:
        """A preset from another bank than Program Change holds: hold this bank's instead."""
        if self.cfg.midi.program_channel and self.current.bank != self._programs_bank:
            self.sync_programs()

    def _load_zones(self, preset: Preset) -> bool:
        """Play a preset with zones: every zone's sounds made resident in the engine, then its
        keymap. Every sound is read before anything is sent, so a missing one leaves the
        instrument as it was."""
        try:
            zones, sounds = preset_sound.zone_sounds(self.library, preset, self.cfg.audio.rate, self.host.new_id)
        except (LibraryError, OSError) as e:
            log.error("preset %s: %s", preset.name, describe(e))
            return False
        for snd in sounds:
            self.host.play(snd, current=False)
        self.host.set_keymap(zones)
        self.host.send(em.SetParams(voice_changes(preset.sampler)))
        self.current = preset
        self.save_state()
        log.info("preset %s: %d zones, %d sounds", preset.name, len(zones), len(sounds))
        self._bank_changed()
        return True

    # ---- editing --------------------------------------------------------------------------------
    def set_sound(self, key: str, value) -> SoundSettings:
        """Change one setting of the sound being played, live (checked against the [sampler]
        schema: raises ConfigError). Tune and root follow sounding notes; start and loop points
        prepare the sound again (notes already sounding play on with the old points)."""
        s = self.current.sampler = config_mod.updated(self.current.sampler, **{key: value})
        if key in ("root", "tune"):
            self.host.send(em.SetTune(s.root, s.tune))
        elif key in VOICE_KEYS:
            self.host.send(em.SetParams({VOICE_KEYS[key]: getattr(s, key)}))
        elif key in POINT_KEYS and self._points_due is None:
            self._points_due = self.clock() + POINTS_EVERY_S
        self.saver.soon()
        return s

    def save_state(self) -> bool:
        """Save the current state now; False when the disk refuses (full, read-only): reported,
        nothing raised, and tried again later with a backoff until it works."""
        return self.saver.save(self.current)

    def save_preset(self, name: str, bank: str = "user", overwrite: bool = False) -> str:
        """Save the current sound and settings as a preset; returns its path. A preset of that
        name raises library.sounds.Exists unless ``overwrite`` (ask, then call again); other
        refusals raise LibraryError or OSError (DiskFullError) with a message for the user."""
        path = self.store.save(dataclasses.replace(self.current, name=name, bank=bank), overwrite=overwrite)
        log.info("preset %s/%s saved%s", PresetStore.bank_id(bank), name, " over the old one" if overwrite else "")
        return path

    def rename_preset(self, preset: Preset, name: str) -> None:
        """Rename a preset; a preset already of the new name raises library.sounds.Exists."""
        if name == preset.name:
            return
        self.store.save(dataclasses.replace(preset, name=name))
        self.store.delete(preset.bank, preset.name)

    def delete_sound(self, sound_id: str, force: bool = False) -> None:
        """Delete a sound from the library; while presets use it raises library.sounds.InUse
        (its ``users`` name them) unless ``force``."""
        from promptsynth.library.manage import delete_sound

        delete_sound(self.library, self.store, sound_id, force=force)
        log.info("sound %s deleted", sound_id)

    def rename_sound(self, sound_id: str, name: str) -> None:
        """Rename a library sound (checked like every name: raises LibraryError)."""
        self.library.rename(sound_id, name)
        log.info("sound %s renamed %r", sound_id, name)

    def delete_preset(self, preset: Preset) -> None:
        self.store.delete(preset.bank, preset.name)
        log.info("preset %s/%s deleted", preset.bank, preset.name)

    def return_to_attract(self, bank: str, name: str) -> bool:
        """The kiosk's idle return: nothing of the last visitor remains. Every job is cancelled,
        the generation settings are the configured ones again, and the attract preset plays with
        every sound setting it does not state taken from the schema's defaults (a preset that
        stores 4 keys must not leave the visitor's gain in place). ``name`` "" means the Init
        sound with the [sampler] settings. Raises LibraryError when the preset does not exist
        (after the rest is done: the visitor's settings are gone either way)."""
        cancelled = self.cancel()
        self._awaiting.clear()
        self._points_due = None
        self.gen.settings = self.gen_defaults
        init = Preset(name="Init", sound="init", sampler=sampler_settings(self.cfg.sampler))
        try:
            preset = self.preset(bank, name) if name else init
        except LibraryError:
            self.load_preset(init, generate=False)
            raise
        preset = dataclasses.replace(preset, sampler=preset_sound.complete_settings(preset.sampler))
        before = self.current
        ok = self.load_preset(preset)
        if self.current is before:  # not loaded (load_preset makes a new current when it plays)
            # its sound is missing or is being generated first: meanwhile the Init sound, so the
            # visitor's sound and settings are gone now (a generated attract sound loads when done)
            self.load_preset(init, generate=False)
        log.info("idle return to %s/%s (%d job(s) cancelled)", preset.bank, preset.name, cancelled)
        return ok

    # ---- generation -----------------------------------------------------------------------------
    def generate(self, prompt: str, **overrides) -> int:
        """Queue a sound from a prompt with the current generation settings; returns the job id
        (raises with a message for the user: a refused prompt, a full queue, no model). A morph
        names its other prompts (``morph=("a violin",), position=0.3``, or ``series=5``); sound
        to sound names its source's library id (``source=ID, strength=0.4``)."""
        return self._submit(prompt, **overrides)

    def _submit(self, prompt: str, **overrides) -> int:
        source = overrides.get("source")
        if not source:
            return self.gen.submit(prompt, **overrides)
        from promptsynth.library.sources import source_audio

        _, audio, rate = source_audio(self.library, str(source), self.cfg.audio.rate)
        return self.gen.submit(prompt, audio, rate, **overrides)

    def generate_from_current(self, prompt: str, strength: float) -> int:
        """Sound to sound: the sound being played, moved toward ``prompt`` by ``strength`` (0-1)."""
        sid = self.current.sound
        if self.current.zones or sid in (None, "init"):
            raise LibraryError("no sound to start from: play a generated, imported or recorded sound first")
        return self._submit(prompt, source=sid, strength=strength)

    def set_scan(self, position: float) -> int:
        """Where a scan (a morph series on the mod wheel) plays, 0-1, from the panel: sent as the
        mod wheel's own message, so sounding notes follow it as they follow the wheel (and a
        wheel moved after it takes over). Returns the 7-bit value sent."""
        value = min(max(int(round(float(position) * 127)), 0), 127)
        self.host.send(em.Midi(bytes([0xB0, 1, value])))
        return value

    # ---- variations ----------------------------------------------------------------------------
    def vary(self, n: int = 4, jitter: float = 0.0) -> Variations:
        """``n`` variations of the sound being played, made in the background while it plays: its
        recipe with the next seeds (and, with ``jitter`` 0-1, the guidance moved a little)."""
        from promptsynth.daemon.transform import MAX_VARIATIONS, Variation, variation_overrides

        p = self.current
        if not p.has_recipe or p.zones:
            raise LibraryError("variations need a generated sound (this one has no recipe)")
        if self.variations is not None and self.variations.pending:
            raise RuntimeError("variations are already being made: cancel them first")
        n = min(max(int(n), 1), MAX_VARIATIONS)
        if p.generation.get("seed") is None:
            raise LibraryError("this sound's recipe has no seed to vary around")
        self.variations = Variations(of=p)
        for i in range(n):
            g = variation_overrides(p, i, jitter)
            job = self._submit(g.pop("prompt"), **{k: v for k, v in g.items() if k != "model"})
            self.variations.items.append(Variation(job, int(g["seed"]), float(g["guidance"])))
        return self.variations

    def audition(self, i: int) -> bool:
        """Play variation ``i`` (what a key plays now)."""
        v = self._variation(i)
        return v.preset is not None and self.load_preset(v.preset, generate=False)

    def keep_variation(self, i: int) -> None:
        """Keep variation ``i`` in the library (it is there already; it stays)."""
        v = self._variation(i)
        if v.state == "ready":
            v.state = "kept"

    def drop_variation(self, i: int) -> None:
        """Drop variation ``i``: its sound leaves the library (unless a preset uses it)."""
        from promptsynth.library.manage import delete_sound

        v = self._variation(i)
        if v.state not in ("ready",) or v.preset is None or v.preset.sound is None:
            return
        if self.current.sound == v.preset.sound and self.variations is not None:
            # the one playing: the original plays again first (and is the state on disk)
            self.load_preset(self.variations.of, generate=False)
            self.save_state()
        try:
            delete_sound(self.library, self.store, v.preset.sound)
        except LibraryError as e:  # a preset took it in the meantime: kept
            log.info("variation %d kept: %s", i + 1, e)
            v.state = "kept"
            return
        v.state = "dropped"

    def close_variations(self) -> None:
        """Done auditioning: the ones not kept are dropped, the waiting ones cancelled, and the
        original sound plays again unless a kept one is playing."""
        vs = self.variations
        if vs is None:
            return
        for i, v in enumerate(vs.items):
            if v.state in ("waiting", "running"):
                self.gen.cancel(v.job)
                v.state = "dropped"
            elif v.state == "ready":
                self.drop_variation(i)
        kept = {v.preset.sound for v in vs.items if v.state == "kept" and v.preset is not None}
        if self.current.sound not in kept:
            self.load_preset(vs.of, generate=False)
        self.variations = None

    def _variation(self, i: int):
        if self.variations is None or not 0 <= i < len(self.variations.items):
            raise LibraryError("no variation %d" % (i + 1))
        return self.variations.items[i]

    def _variation_result(self, ev) -> bool:
        """A variation's Result or Failed: kept in the library, not played. True if it was one."""
        from promptsynth.generator import protocol as gm
        from promptsynth.library.intake import keep_generated

        vs = self.variations
        v = vs.by_job(ev.job_id) if vs is not None else None
        if vs is None or v is None:
            return False
        if isinstance(ev, gm.Failed):
            v.state = "failed"
            return True
        try:
            v.preset = keep_generated(self.library, ev.audio[0], ev.rate, ev.recipe, self.cfg.audio.rate, vs.of.sampler)
            v.state = "ready"
        except (OSError, ValueError, LibraryError) as e:
            v.state = "failed"
            self.health.sync("library", FAILED, "variation could not be kept: %s" % describe(e))
        return True

    # ---- recording -----------------------------------------------------------------------------
    def record_start(self) -> None:
        """Start a take from the audio input (count-in first); raises when there is no input."""
        if self.recorder is None:
            raise LibraryError("no audio input: set [audio] capture_device")
        self.recorder.start()

    def record_stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()

    def record_status(self):
        from promptsynth.daemon.recorder import RecordStatus

        return self.recorder.status() if self.recorder is not None else RecordStatus()

    def _take_recording(self) -> None:
        """A finished take: into the library like an import, and played."""
        from promptsynth.library.intake import settings_for, store_recording

        assert self.recorder is not None
        take = self.recorder.take()
        if take is None:
            return
        a = self.cfg.audio
        try:
            sid, meta = store_recording(self.library, take, a.rate, a.rate, "recording", a.record_trim_db)
        except DiskFullError:
            self.health.sync("library", FAILED, "disk full: the recording was not kept")
            return
        except (OSError, ValueError, LibraryError) as e:
            self.health.sync("library", FAILED, "the recording was not kept: %s" % describe(e))
            return
        base = dataclasses.replace(
            self.current.sampler, loop_mode="auto", loop_start=0.0, loop_end=0.0, start=0.0, end=0.0
        )
        self.load_preset(Preset(name=str(meta["name"]), sound=sid, sampler=settings_for(meta, base)), generate=False)
        log.info("recording kept: sound %s, %.2f s", sid, meta["frames"] / meta["rate"])

    @property
    def gen_settings(self):
        """The generation settings (GenSettings) new jobs use."""
        return self.gen.settings

    def set_generation(self, key: str, value):
        """Change one generation setting (checked against the schema: raises ConfigError)."""
        return self.gen.set(key, value)

    def cancel(self, job: Optional[int] = None) -> int:
        """Cancel a job, or every queued and running job (a kit's pads not made yet with them);
        returns how many were cancelled."""
        if job is None and self.kit is not None and not self.kit.done:
            self.kit.cancel()
        return self.gen.cancel(job)

    def model_state(self) -> str:
        return self.gen.model_state

    def queued(self) -> int:
        return self.gen.queued()

    def events_since(self, seq: int):
        """Generator events (Queued, Progress, Result, Failed...) after ``seq``; and the new seq."""
        return self.gen.events_since(seq)

    @staticmethod
    def model_ids() -> List[str]:
        from promptsynth.generator.models import MODELS

        return list(MODELS)

    def problems(self) -> List[str]:
        """One line per part that does not work, for the panel and the web page."""
        return ["%s %s" % (p.name, p.state) for p in self.health.problems()]

    def take_result(self, ev) -> None:
        """A generated sound (a Result) arrived: keep it in the library and play it, as the preset
        that asked for it or as a new sound with its own root and loop. A disk that refuses it is
        reported as the library's health; the sound being played plays on."""
        from promptsynth.library import manage
        from promptsynth.library.intake import keep_generated

        preset = self._awaiting.pop(ev.job_id, None)
        if preset is None and len(ev.recipes) > 1 and ev.recipes[0].get("series_of"):
            self._take_series(ev)
            return
        if preset is None and self.cfg.generate.round_robin and len(ev.audio) > 1:
            self._take_alternates(ev)
            return
        try:
            new = keep_generated(
                self.library, ev.audio[0], ev.rate, ev.recipe, self.cfg.audio.rate, self.current.sampler, preset
            )
            if preset is not None and preset.sound not in (None, "init") and preset.bank != FACTORY:
                new = manage.mend(self.store, preset, new.sound)
        except DiskFullError:
            why = "disk full: generation %d was not kept (delete sounds or presets to make room)" % ev.job_id
            self.health.sync("library", FAILED, why)
            return
        except (OSError, ValueError, LibraryError) as e:
            self.health.sync("library", FAILED, "generation %d could not be kept: %s" % (ev.job_id, describe(e)))
            return
        self.load_preset(new, generate=False)
        if self.cfg.panel.kiosk and self.cfg.library.keep_sounds:  # the kiosk's retention (docs/design.md)
            manage.retain(self.library, self.store, self.cfg.library.keep_sounds, new.sound)

    def _take_series(self, ev) -> None:
        """A morph series: each sound kept, played as one preset: a scan on the mod wheel, or
        across velocity (``[generate] series_play``)."""
        from promptsynth.daemon.transform import series_zones
        from promptsynth.generator.params import RECIPE_KEYS
        from promptsynth.library.intake import name_for

        ids = self._store_each(ev, ev.recipes)
        if ids is None:
            return
        first = dict(ev.recipes[0])
        first.update(position=0.0, series=len(ids))
        preset = Preset(
            name=name_for(dict(first, position=0.0)).replace("(0.00)", "(series)"),
            sound=ids[0],
            sampler=self.current.sampler,
            generation={k: v for k, v in ev.recipes[0].items() if k in RECIPE_KEYS},
            zones=series_zones(ids, [float(r.get("position", 0.0)) for r in ev.recipes], self.cfg.generate.series_play),
        )
        log.info("generation %d: a morph series of %d sounds (%s)", ev.job_id, len(ids), self.cfg.generate.series_play)
        self.load_preset(preset, generate=False)

    def _store_each(self, ev, recipes) -> Optional[List[str]]:
        """Each row of a Result shaped into the library with its own recipe (its own seed or
        position); None, with the library's health saying why, when the disk refuses."""
        from promptsynth.library.intake import shape_and_store

        try:
            return [
                shape_and_store(self.library, a, ev.rate, dict(r), self.cfg.audio.rate)[0]
                for a, r in zip(ev.audio, recipes)
            ]
        except DiskFullError:
            self.health.sync("library", FAILED, "disk full: generation %d was not kept" % ev.job_id)
        except (OSError, ValueError, LibraryError) as e:
            self.health.sync("library", FAILED, "generation %d could not be kept: %s" % (ev.job_id, describe(e)))
        return None

    def _take_alternates(self, ev) -> None:
        """A job's candidates, each shaped into the library, played as one zone's alternates in
        turn (``[generate] round_robin``): a repeated note does not sound like a machine gun."""
        from promptsynth.config import MAX_ALTERNATES, ZoneSettings
        from promptsynth.generator.params import RECIPE_KEYS
        from promptsynth.library.intake import name_from_prompt

        ids = self._store_each(ev, (ev.recipes or [ev.recipe] * len(ev.audio))[:MAX_ALTERNATES])
        if ids is None:
            return
        prompt = str(ev.recipe.get("prompt", ""))
        preset = Preset(
            name=name_from_prompt(prompt),
            sound=ids[0],
            sampler=self.current.sampler,
            generation={k: v for k, v in ev.recipe.items() if k in RECIPE_KEYS},
            zones=[ZoneSettings(name=name_from_prompt(prompt)[:24], sounds=tuple(ids))],
        )
        log.info("generation %d: %d candidates as alternates", ev.job_id, len(ids))
        self.load_preset(preset, generate=False)

    # ---- the loop's share -----------------------------------------------------------------------
    def poll(self, now: float) -> List[object]:
        """Take generated sounds in and apply edits that were held back; returns the generator's
        events (for the inputs that show progress)."""
        from promptsynth.generator import protocol as gm

        events = self.gen.poll()
        for ev in events:
            if self.kit is not None and self._kit_event(ev):
                continue
            if isinstance(ev, (gm.Result, gm.Failed)) and self._variation_result(ev):
                continue
            if isinstance(ev, gm.Result):
                self.take_result(ev)
            elif isinstance(ev, gm.Failed):
                self._awaiting.pop(ev.job_id, None)
        if self.kit is not None:
            self._kit_step()
        if self._points_due is not None and now >= self._points_due:
            self._points_due = None
            self._reload_current()
        if self.recorder is not None and self.recorder.status().phase == "captured":
            self._take_recording()
        while self.host.program_events:
            self._program_event(self.host.program_events.popleft())
        self.saver.poll(now, self.current)
        return events

    # ---- kits ----------------------------------------------------------------------------------
    def generate_kit(self, template_or_file: str, style: str = "", candidates: int = 1) -> KitJob:
        """Generate a kit (library/kits.py) through the generator, pad by pad; when its pads are
        made, its preset is saved in the bank "kits" and played. Raises LibraryError (a bad kit
        or template) or RuntimeError (a kit already running, no generator)."""
        from promptsynth.library.kits import KitJob, load_kit

        if self.kit is not None and not self.kit.done:
            raise RuntimeError("a kit is being generated: cancel it first")
        if self.gen.client is None:
            raise RuntimeError("no generator to make a kit with")
        kit = load_kit(template_or_file)
        seconds = min(self.gen.settings.seconds, 2.0)  # one hit: two seconds are plenty

        def submit(prompt: str, seed: Optional[int]) -> int:
            return self.gen.submit(prompt, seed=seed, seconds=seconds, candidates=candidates)

        room = self.cfg.generate.queue
        self.kit = KitJob(kit, style, submit, self.gen.cancel, lambda: room - self.gen.queued())
        self._kit_saved, self._kit_name = False, None
        self.kit.pump()
        log.info("kit %s: %d pads%s", kit.name, len(kit.pads), " (%s)" % style if style else "")
        return self.kit

    def cancel_kit(self) -> None:
        if self.kit is not None:
            self.kit.cancel()

    def reroll_pad(self, pad: int) -> None:
        """Make one pad of the kit again, with a new seed (the kit being made, or the last one)."""
        if self.kit is None:
            raise RuntimeError("no kit to re-roll a pad of")
        self.kit.reroll(pad)
        self._kit_saved = False

    def _kit_event(self, ev) -> bool:
        """A generator event for one of the kit's pads: taken here (True), not as a sound."""
        from promptsynth.generator import protocol as gm
        from promptsynth.library.intake import shape_and_store
        from promptsynth.library.shaping import ShapeOptions

        kit = self.kit
        assert kit is not None
        job = getattr(ev, "job_id", None)
        if job is None or kit.pad_of(job) is None:
            return False
        if isinstance(ev, gm.Progress):
            kit.progress(job, ev.step, ev.total)
        elif isinstance(ev, gm.Result):
            try:
                ids = [
                    shape_and_store(
                        self.library, a, ev.rate, ev.recipe, self.cfg.audio.rate, ShapeOptions(single_hit=True)
                    )[0]
                    for a in ev.audio
                ]
            except (OSError, ValueError, LibraryError) as e:
                kit.failed(job, "not kept: %s" % describe(e))
                return True
            kit.finished(job, ids)
        elif isinstance(ev, gm.Failed):
            kit.failed(job, ev.reason, ev.kind == "cancelled")
        return True

    def _kit_step(self) -> None:
        """Feed the generator's queue; once every pad is made (or failed), save and play the kit."""
        kit = self.kit
        assert kit is not None
        try:
            kit.pump()
        except Exception as e:  # a full queue, a stopped generator: the pad waits, said once
            log.warning("kit: %s", describe(e))
        if not kit.done or self._kit_saved or not kit.sounds():
            return
        preset = kit.preset()
        if self._kit_name is None:  # a name no preset has (Drums, Drums 2, ...)
            name, n = preset.name, 2
            while True:
                try:
                    self.store.get(preset.bank, preset.name)
                except LibraryError:
                    break
                preset.name, n = "%s %d" % (name, n), n + 1
            self._kit_name = preset.name
        preset.name = self._kit_name
        try:
            self.store.save(preset, overwrite=True)  # a re-rolled pad: the kit as it now stands
        except (LibraryError, OSError) as e:
            self.health.sync("library", FAILED, "the kit was not saved: %s" % describe(e))
        self._kit_saved = True
        log.info("kit %s/%s: %s", preset.bank, preset.name, kit.summary())
        self.load_preset(preset, generate=False)

    # ---- Program Change -----------------------------------------------------------------------
    def sync_programs(self) -> int:
        """Make the current bank's presets resident in the engine for Program Change (the N-th
        preset is program N), within PROGRAM_SOUNDS sounds; a preset past that, or not generated
        yet, is loaded the slow way when asked for. Returns how many programs are resident."""
        from promptsynth.engine.programs import Program
        from promptsynth.engine.sound import PlayableSound
        from promptsynth.library.intake import playable

        channel = self.cfg.midi.program_channel
        if not channel:
            return 0
        bank = self.current.bank
        banks = self.store.banks()
        number = banks.index(bank) if bank in banks else 0
        programs: List[Program] = []
        sounds: List[PlayableSound] = []
        self._program_presets = {}
        rate = self.cfg.audio.rate
        for n, preset in enumerate(self.store.list(bank)[0][:128]):
            try:
                if preset.zones:
                    zones, made = preset_sound.zone_sounds(self.library, preset, rate, self.host.new_id)
                    prog = Program(number, n, preset.name, zones=tuple(zones), params=voice_changes(preset.sampler))
                    as_played = preset
                else:
                    sid = preset_sound.sound_id_for(self.library, preset)
                    if sid is None:  # not generated yet: Program Change asks, and it is made then
                        continue
                    a = preset_sound.load(self.library, sid, preset.sampler, rate)
                    snd = playable(a.audio, rate, a.settings, self.host.new_id(), name=a.name)
                    made = [snd]
                    prog = Program(number, n, preset.name, sound=snd.sound_id, params=voice_changes(a.settings))
                    as_played = dataclasses.replace(preset, sound=a.sound, sampler=a.settings)
            except (LibraryError, OSError) as e:
                log.warning("program %d (%s) not made resident: %s", n, preset.name, describe(e))
                continue
            if len(sounds) + len(made) > PROGRAM_SOUNDS:
                log.info("programs from %d on are loaded when asked for (%d sounds resident)", n, len(sounds))
                break
            programs.append(prog)
            sounds += made
            self._program_presets[(number, n)] = as_played
        for snd in sounds:
            self.host.play(snd, current=False)
        self.host.send(em.SetPrograms(tuple(programs), channel))
        self._programs_bank = bank
        log.info("program change: %d presets of bank %s resident (%d sounds)", len(programs), bank, len(sounds))
        return len(programs)

    def _program_event(self, ev) -> None:
        """The engine switched programs (the state follows), or asks for one it does not hold."""
        banks = self.store.banks()
        if ev.bank < 0:  # no Bank Select was sent: the bank being played
            bank: Optional[str] = self.current.bank
        else:
            bank = banks[ev.bank] if ev.bank < len(banks) else None
        presets = self.store.list(bank)[0] if bank is not None else []
        if ev.number >= len(presets):
            log.warning("program %d of bank %d: no such preset", ev.number + 1, ev.bank)
            return
        preset = presets[ev.number]
        if isinstance(ev, em.ProgramChanged):
            # the engine already plays it: the preset as it was made resident (its sound found)
            self.current = self._program_presets.get((ev.bank, ev.number), preset)
            self.save_state()
            log.info("program %d: %s/%s", ev.number + 1, preset.bank, preset.name)
        elif self.load_preset(preset):
            log.info("program %d: %s/%s (loaded)", ev.number + 1, preset.bank, preset.name)

    def _reload_current(self) -> None:
        from promptsynth.library.intake import playable

        audio = self.current_audio()
        if audio is not None:
            self.host.play(
                playable(audio, self.cfg.audio.rate, self.current.sampler, self.host.new_id(), name=self.current.name)
            )
