"""The engine's control thread (engine/control.py) on its own, with a stand-in pipe and MIDI."""

import time

from promptsynth.config import Config
from promptsynth.engine import control
from promptsynth.engine import messages as m


class Pipe:
    """The supervisor's end as the control thread sees it: nothing to receive, sends recorded."""

    def __init__(self):
        self.sent = []

    def poll(self, timeout):
        time.sleep(timeout)
        return False

    def send(self, msg):
        self.sent.append((time.monotonic(), msg))


class NoMidi:
    """MIDI that never starts (no sequencer, no JACK server)."""

    error = "MIDI (ALSA API) unavailable: no sequencer"

    def __init__(self):
        self.starts = 0

    def start(self):
        self.starts += 1
        return False


def test_a_failing_midi_start_is_reported_only_after_the_quiet_time(monkeypatch):
    monkeypatch.setattr(control, "MIDI_QUIET_S", 0.5)
    monkeypatch.setattr(control, "RESCAN_S", 0.05)
    pipe, midi = Pipe(), NoMidi()
    c = control.Control(Config(), pipe, midi, None)
    c.audio_tried.set()
    t0 = time.monotonic()
    c.start()
    try:
        deadline = t0 + 5.0
        while not pipe.sent and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
    finally:
        c.stop.set()
        c.join(1.0)
    warnings = [(t, msg) for t, msg in pipe.sent if isinstance(msg, m.Notice) and msg.level == "warning"]
    assert [msg.text for _, msg in warnings] == [NoMidi.error]  # once: then retried every 5 s
    assert warnings[0][0] - t0 >= 0.5  # not at once at start-up
    assert midi.starts >= 5  # retried quietly meanwhile
