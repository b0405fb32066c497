"""The tempo of an incoming MIDI clock: 24 ticks (0xF8) a quarter note, timed by when they arrived.

A tick's arrival time comes from rtmidi's per-message delta (the sequencer's own timestamps, not
when the engine happened to poll), so a period's worth of polling jitter does not reach the
tempo. The quarter note is measured over the last QUARTER ticks (a whole beat), which averages
out USB's per-tick jitter (about 1 ms in 500 ms at 120 BPM: 0.2 %) and follows a tempo change
within a beat. A gap longer than a tick at MIN_BPM (the sequencer stopped, or a cable was
pulled) starts the measurement again.
"""

from __future__ import annotations

PPQN = 24  # MIDI clock ticks a quarter note
MIN_BPM, MAX_BPM = 20.0, 300.0
REPORT_EVERY = 6  # ticks (a sixteenth note) between tempo reports
FIRST_REPORT = 12  # ticks measured before the first report (an eighth note)


class MidiClock:
    """Feed it each tick's arrival time (seconds, any origin); it answers the quarter note's length
    in seconds every REPORT_EVERY ticks once it has measured FIRST_REPORT, else 0."""

    __slots__ = ("_times", "_count")

    def __init__(self) -> None:
        self._times = [0.0] * (PPQN + 1)  # a ring of the last beat's tick times
        self._count = 0  # ticks in the current run

    def reset(self) -> None:
        self._count = 0

    def tick(self, t: float) -> float:
        times, count = self._times, self._count
        if count:
            dt = t - times[(count - 1) % len(times)]
            if not 60.0 / (MAX_BPM * PPQN) * 0.5 <= dt <= 60.0 / (MIN_BPM * PPQN):
                count = 0  # a gap (or ticks out of order): measure afresh from this one
        times[count % len(times)] = t
        count += 1
        self._count = count
        if count <= FIRST_REPORT or (count - 1) % REPORT_EVERY:
            return 0.0
        span = min(count - 1, PPQN)  # tick intervals measured, up to a beat
        quarter = (t - times[(count - 1 - span) % len(times)]) * PPQN / span
        return quarter if 60.0 / MAX_BPM <= quarter <= 60.0 / MIN_BPM else 0.0
