"""The polyphonic sampler the engine plays: voices, sounds, controllers and the period's mix.

One object ties the parts together, each in its own module:
  voices.py  the voice pool and the note events (allocation, stealing, release, pedal, sources);
  slots.py   the sounds that can sound at once, and the current one plain notes play;
  zones.py   a keymap: which sounds a note plays, layered, choked, in round robin;
  render.py  the vectorised render of the active voices into a stereo mix (the numpy reference);
  kernel/    the same, compiled: one C call a period (renderers.py picks one by name);
  limiter.py the master soft limiter.
This module keeps the controllers (bend, vibrato, volume) and smooths them once a period; the
renderer applies them with the master gain and the limiter. It is the API the MIDI handler, the
engine process, the bench and the tests use.

Nothing here does I/O, logs, or takes locks; events (note on/off, controllers, new sounds) are
applied between two calls of :meth:`Sampler.render`, which is the period boundary.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from promptsynth.engine import filter as filt
from promptsynth.engine import lfo
from promptsynth.engine import period_settings as ps
from promptsynth.engine.effects import Effects
from promptsynth.engine.limiter import SoftLimiter
from promptsynth.engine.renderers import make_renderer
from promptsynth.engine.slots import MAX_SLOTS, SoundSlots
from promptsynth.engine.sound import PlayableSound
from promptsynth.engine.voices import (
    DECLICK_MS,
    MIN_RELEASE_MS,
    SOURCES,
    SPARE_VOICES,
    STEAL_MS,
    XG0,
    XG1,
    VoiceParams,
    Voices,
)
from promptsynth.engine.zones import SCAN_FLOOR, Keymap, Zone, scan_places_at, scan_weights

BRIGHTNESS_RANGE = 48.0  # semitones CC74 moves the cutoff at 0 and 127
SCAN_GLIDE = 0.3  # the scan position follows the wheel by this much a period (~7 ms at 128 frames)
CLOCK_TIMEOUT_S = 1.0  # a MIDI clock silent this long is gone: the delay takes its time in ms again

# the names callers have always imported from here
__all__ = ["Sampler", "VoiceParams", "SOURCES", "SPARE_VOICES", "STEAL_MS", "MIN_RELEASE_MS", "DECLICK_MS", "MAX_SLOTS"]


class Sampler:
    def __init__(
        self,
        rate: int = 48000,
        period: int = 128,
        params: Optional[VoiceParams] = None,
        max_polyphony: int = 64,
        renderer: str = "auto",
    ):
        self.rate = int(rate)
        self.n = n = int(period)
        self.params = params or VoiceParams()  # shared with the voices: set_params reaches both
        self.max_polyphony = max_polyphony
        self.slots = SoundSlots()
        self.voices = Voices(self.rate, max_polyphony + SPARE_VOICES, self.params, self.slots)
        self.keymap: Optional[Keymap] = None  # None: plain notes play the current sound
        self._zone_slots: List[Tuple[int, ...]] = []  # each zone's alternates' slots
        self._pinned: set = set()  # ids of sounds loaded for a keymap: never released
        self._program_pins: set = set()  # ids of sounds the programs name (Program Change)
        self.renderer, self.renderer_warning = make_renderer(renderer, self.rate, n, self.voices.count)
        # controllers
        self.bend = 0.0  # -1..1
        self.mod = 0.0  # 0..1
        self.volume = 1.0  # CC7 as 0..1
        self._lfo = 0.0
        self._pitch_offset = 0.0  # semitones of bend and vibrato, last period
        self._mod_smooth = 0.0
        self._scan = 0.0  # where sounding notes of a scan play (0..1): glides after the wheel
        self._scan_ramping = False  # some scan voice's crossfade moved last period
        self._strike = 0  # note-ons so far: the voices of one share it (a scan's places)
        self._gain = self._gain_target()
        self.brightness = 0.0  # CC74 as -1..1 (64 = 0): moves every voice's cutoff
        self.timbre = 0.0  # CC71 as -1..1 (64 = 0): moves the resonance
        self._cutoff: Optional[float] = None  # the smoothed cutoff as a MIDI pitch
        self.pressure = 0.0  # channel pressure (aftertouch) as 0..1
        self.clock_quarter = 0.0  # the MIDI clock's quarter note in seconds (0: none)
        self._clock_age = 0  # frames since the clock's last tempo report
        self._press_smooth = 0.0
        self.fp = np.zeros(ps.FP_COUNT)  # this period's shared voice settings, as the renderers take them
        self.fp[ps.FP_RATE] = self.rate
        self.effects = Effects(self.rate)  # chorus, delay, reverb on the mix
        # output: the master gain, then the limiter
        self.out = np.zeros((n, 2), np.float32)
        self.limiter = SoftLimiter(rate, n)
        self.peak = 0.0
        self.voices_sounding = 0

    # ---- voice state the engine's meters, the bench and the tests read ---------------------
    @property
    def active(self) -> np.ndarray:
        return self.voices.active

    @property
    def released(self) -> np.ndarray:
        return self.voices.released

    @property
    def stealing(self) -> np.ndarray:
        return self.voices.stealing

    @property
    def note(self) -> np.ndarray:
        return self.voices.note

    @property
    def pedals(self) -> np.ndarray:
        return self.voices.pedals

    @property
    def pedal(self) -> bool:
        """The engine's own pedal (source 0)."""
        return self.voices.pedal

    @property
    def steals(self) -> int:
        return self.voices.steals

    # ---- settings and sounds ---------------------------------------------------------------
    def _gain_target(self) -> float:
        return 10 ** (self.params.gain_db / 20.0) * self.volume * self.volume

    def set_params(self, **changes) -> None:
        for k, val in changes.items():
            if not hasattr(self.params, k):
                raise KeyError(k)
            setattr(self.params, k, val)

    def set_tune(self, root: Optional[int] = None, tune: Optional[float] = None) -> None:
        """Retune the current sound; sounding notes follow (smoothly, through the increment ramp)."""
        i = self.slots.current
        if i < 0:
            return
        if root is not None:
            self.slots.root[i] = root
        if tune is not None:
            self.slots.tune[i] = tune
        self.voices.retune(i)

    def load(self, sound: PlayableSound, current: bool = True) -> List[int]:
        """Make ``sound`` resident: the one plain notes play (``current``), or one a keymap's zone
        will name. Notes sounding an older sound play on.

        Returns the ids of sounds that no voice uses any more (their memory can be released).
        """
        freed = self.collect_unused()
        if self.slots.full():  # every slot still sounds: cut the voices of the oldest unkept one
            victim = self.slots.oldest(self._kept())
            if victim < 0:
                raise ValueError("every sound slot is held by the keymap")
            self.voices.cut_slot(victim)
            freed.append(self.slots.remove(victim))
        self.slots.put(sound, current)
        if not current:
            self._pinned.add(sound.sound_id)
        return freed + self.collect_unused()

    def _kept(self) -> set:
        """The slots of the pinned sounds (loaded for a keymap, or named by the programs) and of
        the keymap's zones."""
        kept = {slot for alternates in self._zone_slots for slot in alternates}
        pinned = self._pinned | self._program_pins
        return kept | {i for i, snd in enumerate(self.slots.sounds) if snd is not None and snd.sound_id in pinned}

    def pin_programs(self, sound_ids) -> List[int]:
        """Keep these sounds resident whatever the keymap (a bank's presets, for Program Change);
        the ones pinned before and not now may go. Returns the ids no longer needed."""
        self._program_pins = set(sound_ids)
        return self.collect_unused()

    def set_current(self, sound_id: int) -> None:
        """Plain notes play this resident sound from now on (KeyError if it is not resident)."""
        i = self.slots.find(sound_id)
        if i < 0:
            raise KeyError("sound %d is not loaded" % sound_id)
        self.slots.current = i

    def collect_unused(self) -> List[int]:
        """Release the sounds no voice plays and no zone names (never the current one); return
        their ids."""
        return self.slots.release_unused(self.voices.slots_in_use(), self._kept())

    def set_keymap(self, zones: Optional[Sequence[Zone]]) -> None:
        """Play notes through ``zones`` (engine/zones.py), whose sounds must all be resident
        (loaded with ``current=False``, which pins them until a keymap is set); None: plain notes
        play the current sound across the keyboard. Sounds pinned but not in the new keymap may
        go once no voice plays them; notes already sounding play on. Raises ValueError (a bad
        zone) or KeyError (a sound not loaded); the keymap is then unchanged."""
        if zones is None:
            self._freeze_scan()
            self.keymap, self._zone_slots = None, []
            self._pinned = set()
            return
        keymap = Keymap(zones)
        slots = []
        for z in keymap.zones:
            found = tuple(self.slots.find(sid) for sid in z.sounds)
            if min(found) < 0:
                raise KeyError("zone sound %d is not loaded" % z.sounds[found.index(min(found))])
            slots.append(found)
        self._freeze_scan()
        self.keymap, self._zone_slots = keymap, slots
        self._pinned = {sid for z in keymap.zones for sid in z.sounds}  # others may now go

    # ---- events (applied at the period boundary) --------------------------------------------
    def note_on(self, note: int, velocity: int, source: int = 0) -> None:
        keymap = self.keymap
        if keymap is None or velocity <= 0:
            self.voices.note_on(note, velocity, source, self._pitch_offset)
            return
        zones = keymap.match(note, velocity)
        for g in {keymap.zones[i].group for i in zones} - {0}:  # choke first, then layer
            self.voices.choke(g)
        self._strike += 1
        if keymap.scan_places and not (self.voices.active & (self.voices.place > 0)).any():
            self._scan = self.mod  # nothing of the scan sounds: no need to glide there
        for i in zones:
            gain = keymap.gain(i, self._scan) if keymap.scan_places else 1.0
            if gain < SCAN_FLOOR:  # a place of a scan too far from the wheel's
                continue
            slot = self._zone_slots[i][keymap.alternate(i)]
            self.voices.start(note, velocity, source, self._pitch_offset, slot, keymap.zones[i], i, gain, self._strike)

    def note_off(self, note: int, source: int = 0) -> None:
        """Release ``note`` as started from ``source`` (another input's same note plays on)."""
        self.voices.note_off(note, source)

    def sustain_pedal(self, down: bool, source: int = 0) -> None:
        self.voices.sustain_pedal(down, source)

    def all_notes_off(self, source: Optional[int] = None) -> None:
        """CC123: release the held notes (and the pedal) of ``source``, or of every input."""
        self.voices.all_notes_off(source)

    def all_sound_off(self) -> None:
        """CC120 and panic: every voice fades out within a few milliseconds."""
        self.voices.all_sound_off()

    def reset_controllers(self, source: Optional[int] = None) -> None:
        """CC121: bend, mod wheel and volume (shared by every input) and the pedal of ``source``
        (of every input when None)."""
        self.bend = 0.0
        self.mod = 0.0
        self.volume = 1.0
        self.brightness = 0.0
        self.timbre = 0.0
        self.pressure = 0.0
        self.voices.release_pedals(source)

    def pitch_bend(self, value: float) -> None:
        self.bend = min(max(float(value), -1.0), 1.0)

    def set_brightness(self, value: float) -> None:
        """CC74 (sound controller 5, "brightness"): -1..1 moves the cutoff of sounding and new
        notes by up to BRIGHTNESS_RANGE semitones, smoothly."""
        self.brightness = min(max(float(value), -1.0), 1.0)

    def set_timbre(self, value: float) -> None:
        """CC71 (sound controller 2, "timbre/harmonic intensity"): -1..1 added to the resonance."""
        self.timbre = min(max(float(value), -1.0), 1.0)

    def set_pressure(self, value: float) -> None:
        """Channel pressure (aftertouch), 0..1: opens the cutoff and deepens the LFO as set."""
        self.pressure = min(max(float(value), 0.0), 1.0)

    def set_clock(self, quarter_s: float) -> None:
        """A tempo from MIDI clock (engine/midi_clock.py): a quarter note in seconds. The delay
        follows it (as its ``delay_sync`` note length) until the clock falls silent."""
        self.clock_quarter = float(quarter_s)
        self._clock_age = 0

    @property
    def clock_bpm(self) -> float:
        """The MIDI clock's tempo, 0 when none arrives."""
        return 60.0 / self.clock_quarter if self.clock_quarter > 0.0 else 0.0

    def mod_wheel(self, value: float) -> None:
        self.mod = min(max(float(value), 0.0), 1.0)

    def set_volume(self, value: float) -> None:
        self.volume = min(max(float(value), 0.0), 1.0)

    # ---- a scan: sounding notes follow the wheel ----------------------------------------------
    def _freeze_scan(self) -> None:
        """A new keymap: the notes sounding a scan keep their mix as it is and ring on."""
        v = self.voices
        on = np.flatnonzero(v.place > 0)
        v.vp[on, XG0] = v.vp[on, XG1]
        v.vp32[on, XG0] = v.vp32[on, XG1]
        v.place[on] = 0
        self._scan_ramping = False

    def _glide_scan(self) -> None:
        """Once a period while a scan sounds: the position glides toward the wheel, and every
        sounding note's places crossfade to it per voice, each gain ramped across the period (no
        step, so no click). A place the position reaches joins the note where it is (its sound,
        envelope and LFO at the note's point: Voices.follow); a place it leaves is freed once
        its gain has ramped to 0."""
        keymap, v = self.keymap, self.voices
        assert keymap is not None
        pos0, target = self._scan, self.mod
        if pos0 == target and not self._scan_ramping:
            return
        pos1 = pos0 + (target - pos0) * SCAN_GLIDE
        if abs(pos1 - target) < 1e-4:
            pos1 = target
        self._scan = pos1
        on = np.flatnonzero(v.active & (v.place > 0))
        if on.size == 0:
            self._scan, self._scan_ramping = target, False
            return
        span = keymap.scan_places - 1
        if scan_places_at(pos1 * span) != scan_places_at(pos0 * span):
            self._join_places(on, pos1 * span)
            on = np.flatnonzero(v.active & (v.place > 0))
        w = scan_weights(v.place[on], pos1 * span)
        v.vp[on, XG0] = v.vp[on, XG1]
        v.vp[on, XG1] = w
        v.vp32[on, XG0] = v.vp[on, XG0]
        v.vp32[on, XG1] = w
        gone = on[(v.vp[on, XG0] == 0.0) & (w == 0.0)]  # ramped to silence last period
        v.active[gone] = False
        v.stealing[gone] = False
        self._scan_ramping = bool((v.vp[on, XG0] != w).any())

    def _join_places(self, on: np.ndarray, x: float) -> None:
        """Start the places at scan position ``x`` that the sounding notes ``on`` lack."""
        keymap, v = self.keymap, self.voices
        assert keymap is not None
        want = scan_places_at(x)
        for strike in set(v.strike[on[~v.stealing[on]]].tolist()):
            mine = on[(v.strike[on] == strike) & ~v.stealing[on]]
            j = int(mine[np.argmax(v.vp[mine, XG1])])  # the note's loudest place leads
            have = set(v.place[mine].tolist())
            note, velocity = int(v.note[j]), int(v.velocity[j])
            for zi in keymap.match(note, velocity):
                z = keymap.zones[zi]
                if z.scan not in want or z.scan in have:
                    continue
                slot = self._zone_slots[zi][keymap.alternate(zi)]
                i = v.start(note, velocity, int(v.source[j]), self._pitch_offset, slot, z, zi, 0.0, strike, steal=False)
                if i >= 0:  # none free: the place stays out (the note plays on without it)
                    v.follow(i, j, z, keymap.zones[int(v.zone[j])])

    # ---- rendering ------------------------------------------------------------------------
    def _shared_settings(self) -> None:
        """This period's shared voice settings into ``fp`` (engine/period_settings.py). The
        cutoff (the setting, moved by CC74 and channel pressure) is smoothed (~10 ms at 128
        frames) and ramped across the period by the renderer, so turning it moves sounding notes
        without steps; the LFO's depths are scaled by the (smoothed) mod wheel and pressure."""
        p, fp, rate = self.params, self.fp, self.rate
        self._press_smooth += (self.pressure - self._press_smooth) * 0.2
        fp[ps.FP_TYPE] = filt.TYPES.index(p.filter_type)
        fp[ps.FP_K] = filt.damping(p.resonance / 100.0 + self.timbre)
        fp[ps.FP_DEPTH] = p.filter_env_depth / 100.0
        target = (
            filt.cutoff_pitch(p.cutoff)
            + self.brightness * BRIGHTNESS_RANGE
            + self.pressure * p.aftertouch_cutoff / 100.0
        )
        if self._cutoff is None:  # the first period starts where the setting is
            self._cutoff = target
        fp[ps.FP_OFF0] = self._cutoff
        self._cutoff += (target - self._cutoff) * 0.3
        if abs(self._cutoff - target) < 1e-6:
            self._cutoff = target
        fp[ps.FP_OFF1] = self._cutoff
        waits = p.lfo_modwheel / 100.0
        scale = 1.0 - waits + waits * self._mod_smooth + p.lfo_aftertouch / 100.0 * self._press_smooth
        fp[ps.FP_LFO_WAVE] = lfo.WAVES.index(p.lfo_wave)
        fp[ps.FP_LFO_RATE] = p.lfo_rate / rate
        fp[ps.FP_LFO_DELAY] = p.lfo_delay * rate / 1000.0
        fp[ps.FP_LFO_FADE] = p.lfo_fade * rate / 1000.0
        fp[ps.FP_LFO_PITCH] = p.lfo_pitch / 100.0 * scale
        fp[ps.FP_LFO_CUTOFF] = p.lfo_cutoff / 100.0 * scale
        fp[ps.FP_LFO_LEVEL] = min(p.lfo_level / 100.0 * scale, 1.0)

    def render(self) -> np.ndarray:
        """Render one period; returns the (period, 2) float32 output (a buffer reused each call)."""
        n = self.n
        # controllers: smoothed once a period, then ramped per frame
        # the mod wheel deepens vibrato and the LFO, unless it plays a scan (engine/zones.py)
        scan = self.keymap is not None and self.keymap.scan_places > 0
        self._mod_smooth += ((0.0 if scan else self.mod) - self._mod_smooth) * 0.2
        self._lfo = (self._lfo + self.params.vibrato_rate * n / self.rate) % 1.0
        vib = self.params.vibrato_depth / 100.0 * self._mod_smooth * math.sin(2 * math.pi * self._lfo)
        pitch_offset = self.bend * self.params.bend_range + vib
        self._pitch_offset = pitch_offset
        g0 = self._gain
        g1 = g0 + (self._gain_target() - g0) * 0.15  # ~20 ms time constant at 128 frames
        if abs(g1) < 1e-12:
            g1 = 0.0
        self._gain = g1

        self._shared_settings()
        self._clock_age += n
        if self.clock_quarter and self._clock_age > CLOCK_TIMEOUT_S * self.rate:
            self.clock_quarter = 0.0
        self.effects.settings(self.params, self.clock_quarter)
        if scan:
            self._glide_scan()
        voices = self.voices
        self.peak, self.voices_sounding = self.renderer.period(
            voices, self.slots, pitch_offset, self.fp, self.effects, g0, g1, self.out, self.limiter
        )
        if voices.pending:  # notes released before they sounded have now sounded
            voices.release_pending()
        return self.out
