"""MIDI bytes to sampler events, with every bad byte counted and dropped, never raised.

rtmidi hands over one message at a time (a list of ints), but a JACK or USB sender can put
anything in it: stray data bytes, truncated messages, running status, SysEx, real-time bytes in
the middle.  :class:`MidiDecoder` walks the bytes as a stream, so one broken message never hides
a good one that follows.  mido's Parser does the same job but drops errors silently (we count
them) and builds a Message object per event (the engine's loop avoids that).

Each MIDI input has its own decoder (and so its own stream state and handler, which tags its
notes with the input's source number); the decoders of one engine share one set of counters.
"""

from __future__ import annotations

from typing import Callable, Optional

from promptsynth.engine.midi_clock import MidiClock

# event kinds passed to the handler
NOTE_OFF, NOTE_ON, CONTROL, BEND, PROGRAM, RESET, PRESSURE, TEMPO = range(8)

# data bytes each channel-voice status takes, by high nibble
_LENGTH = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
_COMMON_LENGTH = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}


class MidiCounters:
    """Counts kept by the decoder (read by the engine's stats)."""

    __slots__ = ("messages", "events", "malformed", "sysex", "ignored", "filtered")

    def __init__(self) -> None:
        self.messages = self.events = self.malformed = self.sysex = self.ignored = self.filtered = 0


class MidiDecoder:
    """Decode rtmidi messages and call ``handler(kind, a, b)`` for each usable event.

    ``channel`` is 1-16 to listen to one channel, 0 for all.  Events: NOTE_ON (note, velocity;
    velocity 0 arrives as NOTE_OFF), NOTE_OFF (note, 0), CONTROL (number, value), BEND (14-bit
    value - 8192, 0), PROGRAM (program, channel + 16 x (bank + 1): the bank is the last Bank
    Select, CC0 x 128 + CC32, on that channel, which the decoder keeps and does not pass on as
    controllers; -1 before any, meaning the current bank),
    PRESSURE (channel pressure, 0), RESET (0, 0) for
    System Reset, TEMPO (a quarter note in microseconds, 0) from MIDI clock (engine/midi_clock.py,
    every sixteenth note while a clock arrives). Polyphonic aftertouch is counted as ignored.
    """

    def __init__(
        self, handler: Callable[[int, int, int], None], channel: int = 0, counters: Optional[MidiCounters] = None
    ):
        self.handler = handler
        self.channel = channel
        self.counters = counters if counters is not None else MidiCounters()
        self.clock = MidiClock()
        self.bank = [-1] * 16  # each channel's Bank Select (CC0 x 128 + CC32; -1: none received)
        self._t = 0.0  # this input's time: the sum of its messages' deltas

    def feed(self, msg, delta: float = 0.0) -> None:
        """One message; ``delta``: seconds since this input's previous one (rtmidi's timestamp),
        which times MIDI clock ticks."""
        c = self.counters
        self._t += delta
        c.messages += 1
        status = 0  # running status, valid within one message only
        need = 0  # data bytes the status takes
        have = 0  # data bytes collected so far
        d1 = 0
        pending = False  # a status byte still waits for its data
        sysex = False
        for b in msg:
            if not 0 <= b <= 0xFF:
                c.malformed += 1
                continue
            if b >= 0xF8:  # real-time: may sit anywhere, even between data bytes
                if b == 0xF8:
                    quarter = self.clock.tick(self._t)
                    if quarter:
                        c.events += 1
                        self.handler(TEMPO, int(round(quarter * 1e6)), 0)
                elif b == 0xFF:
                    c.events += 1
                    self.handler(RESET, 0, 0)
                else:
                    c.ignored += 1
                continue
            if sysex:
                if b < 0x80:
                    continue
                sysex = False
                if b == 0xF7:
                    continue
            if b >= 0x80:  # a status byte ends whatever came before
                if pending:
                    c.malformed += 1  # truncated message
                have = 0
                pending = False
                if b == 0xF0:
                    c.sysex += 1
                    sysex = True
                    status = 0
                elif b == 0xF7:  # end of a SysEx that never started
                    c.malformed += 1
                    status = 0
                elif b >= 0xF1:
                    need = _COMMON_LENGTH.get(b, 0)
                    status = b
                    pending = need > 0
                    if need == 0:
                        c.ignored += 1
                        status = 0
                else:
                    status = b
                    need = _LENGTH[b & 0xF0]
                    pending = True
                continue
            if status == 0:  # data byte with no status before it
                c.malformed += 1
                continue
            have += 1
            pending = True
            if have < need:
                d1 = b
                continue
            have = 0
            pending = False
            if need == 1:
                d1, d2 = b, 0
            else:
                d2 = b
            if status >= 0xF0:  # system common: valid, not used; no running status
                c.ignored += 1
                status = 0
                continue
            self._event(status, d1, d2)
        if pending:
            c.malformed += 1  # the message ended inside a message

    def _event(self, status: int, d1: int, d2: int) -> None:
        c = self.counters
        if self.channel and (status & 0x0F) != self.channel - 1:
            c.filtered += 1
            return
        kind = status & 0xF0
        if kind == 0xA0:  # polyphonic aftertouch: valid, not used
            c.ignored += 1
            return
        c.events += 1
        if kind == 0x90:
            self.handler(NOTE_ON if d2 else NOTE_OFF, d1, d2)
        elif kind == 0x80:
            self.handler(NOTE_OFF, d1, 0)
        elif kind == 0xB0:
            ch = status & 0x0F
            if d1 == 0:  # Bank Select: kept for the Program Change that follows
                self.bank[ch] = d2 << 7 | (max(self.bank[ch], 0) & 0x7F)
            elif d1 == 32:
                self.bank[ch] = (max(self.bank[ch], 0) & ~0x7F) | d2
            else:
                self.handler(CONTROL, d1, d2)
        elif kind == 0xE0:
            self.handler(BEND, (d1 | d2 << 7) - 8192, 0)
        elif kind == 0xD0:
            self.handler(PRESSURE, d1, 0)
        else:
            ch = status & 0x0F
            self.handler(PROGRAM, d1, ch + 16 * (self.bank[ch] + 1))


def apply_to_sampler(
    sampler, other_cc: Optional[Callable[[int, int], None]] = None, source: int = 0
) -> Callable[[int, int, int], None]:
    """The handler that plays decoded events on a :class:`~promptsynth.engine.sampler.Sampler`.

    Notes, the sustain pedal, all-notes-off (CC123-127) and reset-controllers' pedal belong to
    ``source`` (the input they came from), so one input can never end another's notes; pitch
    bend, mod wheel, volume, all-sound-off (CC120) and System Reset act on the whole instrument.
    Controllers the sampler does not use go to ``other_cc(number, value)`` (for CC learn).
    """

    def handle(kind: int, a: int, b: int) -> None:
        if kind == NOTE_ON:
            sampler.note_on(a, b, source)
        elif kind == NOTE_OFF:
            sampler.note_off(a, source)
        elif kind == CONTROL:
            if a == 64:
                sampler.sustain_pedal(b >= 64, source)
            elif a == 1:
                sampler.mod_wheel(b / 127.0)
            elif a == 7:
                sampler.set_volume(b / 127.0)
            elif a == 74:  # brightness: the filter's cutoff (64 = as set)
                sampler.set_brightness((b - 64) / (63.0 if b > 64 else 64.0))
            elif a == 71:  # timbre / harmonic intensity: the filter's resonance (64 = as set)
                sampler.set_timbre((b - 64) / (63.0 if b > 64 else 64.0))
            elif a == 120:
                sampler.all_sound_off()
            elif a == 121:
                sampler.reset_controllers(source)
            elif a >= 123:  # all notes off, and the mode changes that imply it
                sampler.all_notes_off(source)
            elif other_cc is not None:
                other_cc(a, b)
        elif kind == BEND:
            sampler.pitch_bend(a / 8191.0 if a > 0 else a / 8192.0)
        elif kind == PRESSURE:
            sampler.set_pressure(a / 127.0)
        elif kind == TEMPO:
            sampler.set_clock(a / 1e6)
        elif kind == RESET:
            sampler.reset_controllers()
            sampler.all_sound_off()

    return handle
