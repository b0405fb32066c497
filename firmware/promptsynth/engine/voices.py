"""The voice pool and the note events that change it.

Voice state is kept as arrays over voices (never one object a voice), so the render path
(engine/render.py) gathers a period's parameters for every active voice at once. The events
here (note on and off, allocation and stealing, release, the sustain pedal, per-source notes)
are applied between two periods; they write each voice's envelope coefficients and loop points
into the parameter matrix ``vp``, so the render never recomputes them. Nothing here does I/O,
logs or takes locks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Tuple

import numpy as np

if TYPE_CHECKING:
    from promptsynth.engine.slots import SoundSlots
    from promptsynth.engine.sound import PlayableSound
    from promptsynth.engine.zones import Zone

SOURCES = 16  # MIDI inputs whose notes and pedal are kept apart (0: the engine's own)
SPARE_VOICES = 8  # extra voices so a stolen note can fade while its successor starts
STEAL_MS = 6.0  # fade of a stolen voice (sfizz uses the same)
MIN_RELEASE_MS = 2.0  # a release of 0 still de-clicks
DECLICK_MS = 2.0  # ramp before a trimmed end point, and the shortest attack mid-sound
FAR = 1.0e15  # "loop start" of voices that do not loop, "end" of those that do

# columns of the per-voice parameter matrix, written at note events and gathered once a period
# BASE: note - root + tune in semitones; AR, A0: attack slope and offset; DR, D0: decay (or
# release) slope and offset; SUS, OMS: level * sustain and level * (1 - sustain); LS, CL, PL:
# loop start, fold offset and fold length (see render.py); FEND: trimmed end to de-click
# before; END: frame where a non-looping voice ends; REND: frames after which a released voice
# is silent; STEADY: frames after which a held voice's envelope is constant (FAR once released);
# FBASE: the filter cutoff's key and velocity tracking in semitones; F_AR..F_STEADY: the
# filter envelope's, as AR..STEADY (level 1); PAN_L, PAN_R: the voice's pan as each side's gain;
# XG0, XG1: a scan's crossfade gain at the period's start and end (1, 1 for any other voice),
# ramped linearly across the period by the renderer
(BASE, AR, A0, DR, D0, SUS, OMS, LS, CL, PL, FEND, END, REND, STEADY) = range(14)
(FBASE, F_AR, F_A0, F_DR, F_D0, F_SUS, F_OMS, F_STEADY) = range(14, 22)
PAN_L, PAN_R = 22, 23
XG0, XG1 = 24, 25
NCOLS = 26
# the envelope's columns: what a voice joining a sounding note copies from it (follow())
ENVELOPE = np.array((AR, A0, DR, D0, SUS, OMS, REND, STEADY, F_AR, F_A0, F_DR, F_D0, F_SUS, F_OMS, F_STEADY))


def pan_gains(pan: float) -> Tuple[float, float]:
    """Each side's gain for a pan of -1 (left) .. 1 (right): equal power, and exactly 1 on both
    sides at the centre (so a centred voice is what it was before pan existed)."""
    if pan == 0.0:
        return 1.0, 1.0
    angle = np.pi / 4 * (1.0 + min(max(pan, -1.0), 1.0))
    return float(np.sqrt(2.0) * np.cos(angle)), float(np.sqrt(2.0) * np.sin(angle))


@dataclass
class VoiceParams:
    """Settings that apply to voices (times in milliseconds, levels linear unless named)."""

    attack: float = 2.0
    decay: float = 200.0
    sustain: float = 1.0
    release: float = 300.0
    gain_db: float = -6.0
    velocity_track: float = 100.0
    bend_range: float = 2.0
    vibrato_rate: float = 5.5
    vibrato_depth: float = 50.0  # cents at full mod wheel
    polyphony: int = 16
    filter_type: str = "off"  # engine/filter.py TYPES
    cutoff: float = 20000.0  # Hz
    resonance: float = 0.0  # percent
    filter_keytrack: float = 0.0  # percent: 100 = the cutoff follows the key (doubles an octave)
    filter_veltrack: float = 0.0  # cents of cutoff at velocity 127
    filter_env_depth: float = 0.0  # cents of cutoff at the envelope's peak
    filter_attack: float = 0.0
    filter_decay: float = 0.0
    filter_sustain: float = 1.0
    filter_release: float = 300.0
    lfo_wave: str = "sine"  # engine/lfo.py WAVES
    lfo_rate: float = 5.0  # Hz
    lfo_delay: float = 0.0  # ms
    lfo_fade: float = 0.0  # ms
    lfo_pitch: float = 0.0  # cents
    lfo_cutoff: float = 0.0  # cents
    lfo_level: float = 0.0  # percent
    lfo_modwheel: float = 0.0  # percent of the depths that wait for the mod wheel
    lfo_aftertouch: float = 0.0  # percent of the depths channel pressure adds
    aftertouch_cutoff: float = 0.0  # cents at full pressure
    chorus_mix: float = 0.0  # percent (the master effects: engine/effects.py)
    chorus_rate: float = 0.8  # Hz
    chorus_depth: float = 50.0  # percent
    delay_mix: float = 0.0  # percent
    delay_time: float = 375.0  # ms
    delay_sync: str = "off"  # a note length at the MIDI clock's tempo (config.DELAY_SYNC)
    delay_feedback: float = 35.0  # percent
    reverb_mix: float = 0.0  # percent
    reverb_size: float = 60.0  # percent
    reverb_damping: float = 50.0  # percent


class Voices:
    """``count`` voices playing the sounds of ``slots`` (new notes play its current one)."""

    def __init__(self, rate: int, count: int, params: VoiceParams, slots: SoundSlots):
        self.rate = rate
        self.count = v = count
        self.params = params
        self.slots = slots
        self.active = np.zeros(v, bool)
        self.slot = np.zeros(v, np.intp)
        self.note = np.zeros(v, np.int16)
        self.source = np.zeros(v, np.int16)  # the MIDI input the note came from
        self.key_down = np.zeros(v, bool)
        self.sustained = np.zeros(v, bool)  # key released while the pedal was down
        self.off_pending = np.zeros(v, bool)  # key released before the voice made a sound
        self.pending = 0  # how many are: released after the next period
        self.released = np.zeros(v, bool)
        self.stealing = np.zeros(v, bool)
        self.phase = np.zeros(v, np.float64)
        self.inc = np.full(v, np.nan)  # last frame's increment (NaN: start a new voice)
        self.t = np.zeros(v, np.float64)  # frames since note-on or since release
        self.lt = np.zeros(v, np.float64)  # frames since note-on (the LFO's time: not reset at release)
        self.level = np.ones(v, np.float32)  # velocity gain x level at release
        self.att = np.zeros(v, np.float32)  # snapshot of A/D/S (frames) at note-on
        self.dec = np.zeros(v, np.float32)
        self.sus = np.ones(v, np.float32)
        self.rel = np.ones(v, np.float32)  # release length in frames (set at release)
        self.age = np.zeros(v, np.int64)
        self._age = 0
        self.vp = np.zeros((v, NCOLS), np.float64)
        self.vp32 = np.zeros((v, NCOLS), np.float32)  # float32 copy for the (voices, frames) math
        self.fstate = np.zeros((v, 2, 4), np.float64)  # per voice and channel, the filter's states
        self.pedals = np.zeros(SOURCES, bool)  # each input's sustain pedal
        self.steals = 0
        # what a note's zone (engine/zones.py) set: -1 / NaN / False / 0 for a plain note
        self.zone = np.full(v, -1, np.int16)  # the zone that started the voice
        self.zone_release = np.full(v, np.nan)  # the zone's own release in ms (NaN: the preset's)
        self.one_shot = np.zeros(v, bool)  # the note-off is ignored: it plays to its end
        self.group = np.zeros(v, np.int16)  # choke group
        self.chokes = 0
        # a scan's notes (engine/zones.py): the voices one note-on started share a strike number
        self.strike = np.zeros(v, np.int64)
        self.velocity = np.zeros(v, np.int16)
        self.place = np.zeros(v, np.int16)  # the scan place the voice plays (0: none)

    def ms(self, ms: float) -> float:
        """Milliseconds in frames."""
        return ms * self.rate / 1000.0

    # ---- note on: allocation, stealing, the voice's parameters ------------------------------
    def note_on(self, note: int, velocity: int, source: int = 0, pitch_offset: float = 0.0) -> None:
        """Start ``note`` on the current sound; ``pitch_offset`` (semitones of bend and vibrato)
        is where the controllers left the pitch, so the first period starts there."""
        if velocity <= 0:
            self.note_off(note, source)
            return
        if self.slots.current >= 0:
            self.start(note, velocity, source, pitch_offset, self.slots.current)

    def choke(self, group: int) -> None:
        """A note in choke group ``group`` starts: its group's sounding notes fade out (as a
        stolen note does, in STEAL_MS)."""
        for i in np.flatnonzero(self.active & ~self.stealing & (self.group == group)):
            self._release(int(i), self.ms(STEAL_MS))
            self.stealing[i] = True
            self.chokes += 1

    def start(
        self,
        note: int,
        velocity: int,
        source: int,
        pitch_offset: float,
        slot: int,
        zone: Optional[Zone] = None,
        zone_index: int = -1,
        gain: float = 1.0,
        strike: int = 0,
        steal: bool = True,
    ) -> int:
        """A voice for ``note`` playing the sound in ``slot``: as the preset sets it, or as
        ``zone`` (its root, tune, envelope, gain, play mode and choke group) does; ``gain`` is
        its crossfade gain (a scan's: the renderer ramps it when the wheel moves). Returns the
        voice, or -1 when ``steal`` is False and no voice is free."""
        c = slot
        i = self._allocate(steal)
        if i < 0:
            return -1
        self.active[i] = True
        self.slot[i] = c
        self.note[i] = note
        self.source[i] = source
        self.key_down[i] = True
        self.sustained[i] = False
        self.off_pending[i] = False
        self.released[i] = False
        self.stealing[i] = False
        self.phase[i] = self.slots.start[c]
        self.t[i] = 0.0
        self.lt[i] = 0.0
        self._age += 1
        self.age[i] = self._age
        self.zone[i] = zone_index
        self.zone_release[i] = np.nan if zone is None or zone.release is None else zone.release
        self.one_shot[i] = zone is not None and zone.one_shot
        self.group[i] = 0 if zone is None else zone.group
        self.strike[i] = strike
        self.velocity[i] = velocity
        self.place[i] = 0 if zone is None else zone.scan
        row = self.vp[i]
        if zone is None:
            row[BASE] = note - self.slots.root[c] + self.slots.tune[c] / 100.0
        else:
            row[BASE] = note - zone.root + zone.tune / 100.0
        self._attack(i, velocity, row, zone)
        self._filter_attack(i, note, velocity, row)
        self._loop(row, self.slots.held(c), bool(self.one_shot[i]))
        row[PAN_L], row[PAN_R] = pan_gains(0.0 if zone is None else zone.pan)
        row[FEND] = self.slots.fade_end[c]
        row[REND] = FAR
        row[XG0] = row[XG1] = gain
        self.vp32[i] = row
        self.inc[i] = 2.0 ** ((row[BASE] + pitch_offset) / 12.0)
        return i

    def follow(self, i: int, j: int, zone: Zone, sibling: Zone) -> None:
        """Voice ``i`` (just started in ``zone``) joins the note voice ``j`` (of ``sibling``)
        is playing, as a scan's place joins when the wheel moves: the same point of its sound, of
        its envelope (held or released) and of its LFO, at its own level and pitch. Its filter
        starts from rest: it fades in from gain 0, so that transient is never heard."""
        ratio = 10.0 ** ((zone.gain_db - sibling.gain_db) / 20.0)
        for name in ("t", "lt", "rel", "att", "dec", "sus", "age"):
            a = getattr(self, name)
            a[i] = a[j]
        for name in ("key_down", "sustained", "released", "off_pending"):
            a = getattr(self, name)
            a[i] = a[j]
        self.pending += int(self.off_pending[i])
        self.level[i] = self.level[j] * ratio
        row, src = self.vp[i], self.vp[j]
        row[ENVELOPE] = src[ENVELOPE]
        row[SUS] *= ratio
        row[OMS] *= ratio
        # where the sibling is in its sound, in this sound (a series' sounds share a timeline)
        ci, cj = int(self.slot[i]), int(self.slot[j])
        self.phase[i] = max(self.phase[j] - self.slots.start[cj] + self.slots.start[ci], self.slots.start[ci])
        self.vp32[i] = row

    def _allocate(self, steal: bool = True) -> int:
        """A voice for a new note: beyond the polyphony the oldest released (else oldest) note is
        stolen and fades in its own voice while the new one starts in a free (spare) voice.
        Without ``steal``: a free voice, or -1."""
        if not steal:
            free = np.flatnonzero(~self.active)
            return int(free[0]) if free.size else -1
        playing = self.active & ~self.stealing
        if int(playing.sum()) >= self.params.polyphony:
            cand = np.flatnonzero(playing & self.released)
            if cand.size == 0:
                cand = np.flatnonzero(playing)
            self._steal(int(cand[np.argmin(self.age[cand])]))
        free = np.flatnonzero(~self.active)
        if free.size:
            return int(free[0])
        # every voice, spares too, is busy fading: cut the quietest fading one
        fading = np.flatnonzero(self.stealing)
        return int(fading[np.argmax(self.t[fading] / self.rel[fading])])

    def _attack(self, i: int, velocity: int, row: np.ndarray, zone: Optional[Zone] = None) -> None:
        """Snapshot the envelope settings (the zone's where it has its own) into voice ``i`` and
        its coefficients into ``row``."""
        p = self.params
        c = int(self.slot[i])
        vt = p.velocity_track / 100.0
        self.level[i] = (velocity / 127.0) ** (2.0 * vt)
        attack, decay, sustain = p.attack, p.decay, p.sustain
        if zone is not None:
            self.level[i] *= 10.0 ** (zone.gain_db / 20.0)
            attack = p.attack if zone.attack is None else zone.attack
            decay = p.decay if zone.decay is None else zone.decay
            sustain = p.sustain if zone.sustain is None else zone.sustain
        self.att[i] = self.ms(attack)
        if self.slots.start[c] > 0:  # starting mid-sound: never start with a step
            self.att[i] = max(self.att[i], self.ms(DECLICK_MS))
        self.dec[i] = self.ms(decay)
        self.sus[i] = sustain
        # float() of the float32 snapshots: the coefficients are what the voice will play
        att, dec, sus, lvl = float(self.att[i]), float(self.dec[i]), float(self.sus[i]), float(self.level[i])
        row[STEADY] = att + dec
        row[AR], row[A0] = (1.0 / att, 0.0) if att > 0 else (0.0, 1.0)
        row[DR], row[D0] = (1.0 / dec, -att / dec) if dec > 0 else (0.0, 1.0)
        row[SUS], row[OMS] = lvl * sus, lvl * (1.0 - sus)

    def _filter_attack(self, i: int, note: int, velocity: int, row: np.ndarray) -> None:
        """The filter's cutoff offset for this note (key and velocity tracking, in semitones) and
        its envelope's coefficients; fresh states."""
        p = self.params
        # the note's own offset; the cutoff itself is the sampler's, so turning it moves sounding notes
        row[FBASE] = p.filter_keytrack / 100.0 * (note - 60) + p.filter_veltrack / 100.0 * (velocity / 127.0)
        att, dec, sus = self.ms(p.filter_attack), self.ms(p.filter_decay), float(p.filter_sustain)
        row[F_STEADY] = att + dec
        row[F_AR], row[F_A0] = (1.0 / att, 0.0) if att > 0 else (0.0, 1.0)
        row[F_DR], row[F_D0] = (1.0 / dec, -att / dec) if dec > 0 else (0.0, 1.0)
        row[F_SUS], row[F_OMS] = sus, 1.0 - sus
        self.fstate[i] = 0.0

    def _filter_env_now(self, i: int) -> float:
        """The filter envelope of voice ``i`` at its current time (where its release starts)."""
        row = self.vp[i]
        t = self.t[i]
        e = min(max(t * row[F_DR] + row[F_D0], 0.0), 1.0)
        e = (1.0 - e) ** 3 * row[F_OMS] + row[F_SUS]
        if row[F_A0] < 1.0:
            e *= min(t * row[F_AR] + row[F_A0], 1.0)
        return e

    @staticmethod
    def _loop(row: np.ndarray, snd: PlayableSound, one_shot: bool = False) -> None:
        """The loop folding's constants (forward: fold by L; ping-pong: offset L, fold by 2L);
        a one-shot plays through its sound's loop to the end."""
        if snd.loop_mode == "off" or one_shot:
            row[LS], row[CL], row[PL] = FAR, 0.0, 1.0
            row[END] = snd.end
        else:
            length = float(snd.loop_end - snd.loop_start)
            pp = snd.loop_mode == "pingpong"
            row[LS] = snd.loop_start
            row[CL] = length if pp else 0.0
            row[PL] = 2.0 * length if pp else length
            row[END] = FAR

    # ---- release ---------------------------------------------------------------------------
    def _env_now(self, i: int) -> float:
        """Envelope value of voice i at its current time (for the level a release starts from)."""
        t = self.t[i]
        if self.released[i]:
            x = min(t / max(self.rel[i], 1.0), 1.0)
            return float(self.level[i]) * (1.0 - x) ** 3
        a, d, s = float(self.att[i]), float(self.dec[i]), float(self.sus[i])
        x = 1.0 if a <= 0 else min(t / a, 1.0)
        y = 1.0 if d <= 0 else min(max((t - a) / d, 0.0), 1.0)
        return float(self.level[i]) * x * (s + (1.0 - s) * (1.0 - y) ** 3)

    def _release(self, i: int, frames: float) -> None:
        """Release voice ``i`` over ``frames`` from where its envelope is now: the same closed
        form as the decay, from that level to 0, with no attack."""
        lvl = self._env_now(i)
        fenv = self._filter_env_now(i)
        self.level[i] = lvl
        self.released[i] = True
        self.key_down[i] = False
        self.sustained[i] = False
        self.off_pending[i] = False
        self.t[i] = 0.0
        self.rel[i] = max(frames, 1.0)
        row = self.vp[i]
        row[AR], row[A0] = 0.0, 1.0
        row[DR], row[D0] = 1.0 / self.rel[i], 0.0
        row[SUS], row[OMS] = 0.0, lvl
        row[REND] = self.rel[i]
        row[STEADY] = FAR
        frel = max(self.ms(self.params.filter_release), 1.0)
        row[F_AR], row[F_A0] = 0.0, 1.0
        row[F_DR], row[F_D0] = 1.0 / frel, 0.0
        row[F_SUS], row[F_OMS] = 0.0, fenv
        row[F_STEADY] = FAR
        self.vp32[i] = row

    def _steal(self, i: int) -> None:
        self._release(i, self.ms(STEAL_MS))
        self.stealing[i] = True
        self.steals += 1

    def _release_time(self, i: int) -> float:
        """Voice ``i``'s release in frames: its zone's own, else the preset's now."""
        ms = self.zone_release[i]
        return self.ms(max(self.params.release if np.isnan(ms) else float(ms), MIN_RELEASE_MS))

    def note_off(self, note: int, source: int = 0) -> None:
        """Release ``note`` as started from ``source`` (another input's same note plays on)."""
        held = np.flatnonzero(
            self.active
            & self.key_down
            & (self.note == note)
            & (self.source == source)
            & ~self.released
            & ~self.one_shot  # a one-shot plays to its end
        )
        for i in held:
            self.key_down[i] = False
            if self.pedals[source]:
                self.sustained[i] = True
            elif self.t[i] == 0.0:
                # on and off in one period (a stalled loop, a zero-length sequencer note): a release
                # from here would start at the attack's level 0 and the note would make no sound,
                # so it sounds for one period first
                self.off_pending[i] = True
                self.pending += 1
            else:
                self._release(int(i), self._release_time(int(i)))

    def release_pending(self) -> None:
        """After a period: release the notes whose key went up before they had sounded."""
        self.pending = 0
        for i in np.flatnonzero(self.off_pending & self.active):
            self._release(int(i), self._release_time(int(i)))

    @property
    def pedal(self) -> bool:
        """The engine's own pedal (source 0)."""
        return bool(self.pedals[0])

    def sustain_pedal(self, down: bool, source: int = 0) -> None:
        self.pedals[source] = bool(down)
        if not down:
            for i in np.flatnonzero(self.active & self.sustained & (self.source == source) & ~self.released):
                self._release(int(i), self._release_time(int(i)))

    def all_notes_off(self, source: Optional[int] = None) -> None:
        """CC123: release the held notes (and the pedal) of ``source``, or of every input."""
        if source is None:
            self.pedals[:] = False
            mine = self.active & ~self.released
        else:
            self.pedals[source] = False
            mine = self.active & ~self.released & (self.source == source)
        for i in np.flatnonzero(mine):
            self._release(int(i), self._release_time(int(i)))

    def all_sound_off(self) -> None:
        """CC120 and panic: every voice fades out within a few milliseconds."""
        self.pedals[:] = False
        for i in np.flatnonzero(self.active & ~self.stealing):
            self._steal(int(i))

    def release_pedals(self, source: Optional[int] = None) -> None:
        """Lift the pedal of ``source`` (of every input whose pedal is down when None)."""
        if source is None:
            for src in np.flatnonzero(self.pedals):
                self.sustain_pedal(False, int(src))
        else:
            self.sustain_pedal(False, source)

    # ---- sounds ----------------------------------------------------------------------------
    def slots_in_use(self) -> set:
        return set(self.slot[self.active].tolist())

    def cut_slot(self, i: int) -> None:
        """Silence at once the voices playing slot ``i`` (its sound is being given up)."""
        self.active[self.slot == i] = False

    def retune(self, i: int) -> None:
        """The notes sounding slot ``i`` follow its new root and tune (smoothly: the render
        ramps the increment)."""
        on = np.flatnonzero(self.active & (self.slot == i) & (self.zone < 0))  # a zone has its own
        self.vp[on, BASE] = self.note[on] - self.slots.root[i] + self.slots.tune[i] / 100.0
