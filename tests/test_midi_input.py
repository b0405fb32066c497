"""hw/rtmidi_in.py on its own: which ports it opens, the numbers that tag their notes, and what it
does when the libraries fail.

JACK: the real python-rtmidi and JACK-Client on the session's `jackd -d dummy` server.
ALSA: this machine has no /dev/snd/seq, so the ALSA side is tested where it can be: the parsing
of /proc/asound/seq/clients (captured text below) and the classification built on it; the real
rtmidi.MidiIn on the ALSA API fails here, and that failure is tested as it comes.
"""

import sys

import pytest
import rtmidi

from engine_harness import JackMidiPort, deliver
from promptsynth.bench.rig import wait_for
from promptsynth.hw import rtmidi_in
from promptsynth.hw.rtmidi_in import MidiInput, classify_alsa, parse_seq_clients

# /proc/asound/seq/clients on a Jetson-like Linux 5.10 with a USB keyboard (client 20), a USB
# drum pad whose port a user connected to the instrument by hand (24), the instrument (128:
# virtual port 0, and client 129 opened on the keyboard), a sequencer (130) connected to the
# instrument's virtual port, and a synth (131) with a readable port connected to nothing of ours
PROC_5_10 = """\
Client info
  cur  clients : 8
  peak clients : 9
  max  clients : 192

Client   0 : "System" [Kernel]
  Port   0 : "Timer" (Rwe-)
  Port   1 : "Announce" (R-e-)
    Connecting To: 128:0, 129:0, 130:0
Client  14 : "Midi Through" [Kernel]
  Port   0 : "Midi Through Port-0" (RWe-)
Client  20 : "Keystation 49 MK3" [Kernel]
  Port   0 : "Keystation 49 MK3 MIDI 1" (RWeX)
    Connecting To: 129:0
Client  24 : "nanoPAD2" [Kernel]
  Port   0 : "nanoPAD2 MIDI 1" (RWeX)
    Connecting To: 128:0[real:0]
Client 128 : "promptsynth" [User]
  Port   0 : "promptsynth" (-We-)
    Connected From: 24:0[real:0], 130:0
  Output pool :
    Pool size          : 500
    Cells in use       : 0
    Peak cells in use  : 0
    Alloc success      : 0
    Alloc failures     : 0
  Input pool :
    Pool size          : 1000
    Cells in use       : 0
Client 129 : "promptsynth" [User]
  Port   0 : "in" (-We-)
    Connected From: 20:0
  Output pool :
    Pool size          : 500
Client 130 : "seq24" [User]
  Port   0 : "[1] seq24 1" (R-e-)
    Connecting To: 128:0
  Port   1 : "[2] seq24 2" (R-e-)
Client 131 : "FLUID Synth (1234)" [User]
  Port   0 : "Synth input port (1234:0)" (RWe-)
"""

# the same kind of machine on Linux 6.8: client kinds carry the MIDI version, ports a direction
PROC_6_8 = """\
Client info
  cur  clients : 4
  peak clients : 4
  max  clients : 192

Client   0 : "System" [Kernel Legacy]
  Port   0 : "Timer" (RWe-) [Out]
  Port   1 : "Announce" (R-e-) [Out]
Client  14 : "Midi Through" [Kernel Legacy]
  Port   0 : "Midi Through Port-0" (RWe-) [In/Out]
Client  20 : "Keystation 49 MK3" [Kernel Legacy]
  Port   0 : "Keystation 49 MK3 MIDI 1" (RWeX) [In/Out]
    Connecting To: 128:0
Client 128 : "promptsynth" [User Legacy]
  Port   0 : "promptsynth" (-We-) [In]
    Connected From: 20:0
"""

# names as rtmidi's ALSA API lists readable ports ("client:port N:P")
ALSA_NAMES = [
    "System:Announce 0:1",
    "Midi Through:Midi Through Port-0 14:0",
    "Keystation 49 MK3:Keystation 49 MK3 MIDI 1 20:0",
    "nanoPAD2:nanoPAD2 MIDI 1 24:0",
    "seq24:[1] seq24 1 130:0",
    "seq24:[2] seq24 2 130:1",
    "FLUID Synth (1234):Synth input port (1234:0) 131:0",
]


def _kinds(cands):
    return {c.name.split(":")[0] + (":%s" % c.name.rsplit(" ", 1)[1]): (c.hardware, c.peer) for c in cands}


def test_proc_seq_clients_text_is_parsed_with_kinds_and_connections():
    ports = parse_seq_clients(PROC_5_10)
    assert ports[(20, 0)].kernel and ports[(20, 0)].client_name == "Keystation 49 MK3"
    assert ports[(20, 0)].connecting_to == ((129, 0),)
    assert ports[(24, 0)].connecting_to == ((128, 0),)  # "[real:0]" is not an address
    assert ports[(128, 0)].connected_from == ((24, 0), (130, 0))
    assert not ports[(130, 0)].kernel and ports[(130, 1)].name == "[2] seq24 2"
    assert ports[(131, 0)].name == "Synth input port (1234:0)" and ports[(131, 0)].connecting_to == ()
    assert ports[(0, 1)].connecting_to == ((128, 0), (129, 0), (130, 0))
    assert len(ports) == 10  # the pools are not ports
    new = parse_seq_clients(PROC_6_8)
    assert new[(20, 0)].kernel and new[(20, 0)].name == "Keystation 49 MK3 MIDI 1"
    assert not new[(128, 0)].kernel and new[(128, 0)].connected_from == ((20, 0),)


def test_alsa_ports_are_hardware_when_kernel_clients_and_peers_when_connected_to_our_virtual_port():
    kinds = _kinds(classify_alsa(ALSA_NAMES, parse_seq_clients(PROC_5_10)))
    assert kinds == {
        "System:0:1": (False, False),  # the sequencer's own kernel client: no device
        "Midi Through:14:0": (False, False),  # a kernel client, but a software loopback
        "Keystation 49 MK3:20:0": (True, False),  # hardware: opened (it is, by client 129)
        "nanoPAD2:24:0": (True, True),  # hardware, but already connected to the virtual port
        "seq24:130:0": (False, True),  # software on the virtual port
        "seq24:130:1": (False, False),
        "FLUID Synth (1234):131:0": (False, False),
    }
    # Linux 6.8's text: the keyboard is connected to the virtual port there
    assert _kinds(classify_alsa(ALSA_NAMES[:3], parse_seq_clients(PROC_6_8))) == {
        "System:0:1": (False, False),
        "Midi Through:14:0": (False, False),
        "Keystation 49 MK3:20:0": (True, True),
    }


def test_alsa_without_proc_falls_back_to_client_numbers():
    kinds = _kinds(classify_alsa(ALSA_NAMES, None))
    assert kinds["Keystation 49 MK3:20:0"] == (True, False) and kinds["seq24:130:0"] == (False, False)
    assert kinds["Midi Through:14:0"] == (False, False) and kinds["System:0:1"] == (False, False)
    assert parse_seq_clients("") == {} and parse_seq_clients('garbage\n  Port 3 : "x"\n') == {}


def test_alsa_api_without_a_sequencer_reports_instead_of_raising(tmp_path):
    # the real library: rtmidi.MidiIn on the ALSA API raises rtmidi.SystemError with no /dev/snd/seq
    with pytest.raises(rtmidi.SystemError):
        rtmidi.MidiIn(rtmidi.API_LINUX_ALSA)
    mi = MidiInput("alsa", "", True, proc_clients=str(tmp_path / "clients"))
    assert mi.start() is False and "ALSA" in mi.error and "unavailable" in mi.error
    assert mi.rescan() == ([], []) and mi.inputs == ()
    mi.close()


# ---- JACK -------------------------------------------------------------------------------------

CLIENT = "psynth-unit"


@pytest.fixture
def jack_ports(rig):
    made = []

    def make(name, physical=False):
        p = JackMidiPort(name, physical=physical)
        made.append(p)
        return p

    yield make
    for p in made:
        try:
            p.close()
        except Exception:
            pass


@pytest.fixture
def midi_in(rig):
    made = []

    def make(match="", virtual=True):
        mi = MidiInput("jack", match, virtual, client=CLIENT)
        made.append(mi)
        return mi

    yield make
    for mi in made:
        mi.close()


def _settle(mi, want):
    """Rescan until the opened ports are ``want`` (JACK shows a new port to others a moment later)."""
    seen = []

    def check():
        opened, lost = mi.rescan()
        seen.append((opened, lost))
        return sorted(mi.port_names) == sorted(want)

    assert wait_for(check, 10.0, step=0.05), (mi.port_names, seen[-3:], mi.error)
    return seen


class Collector:
    """Polls ``mi`` as the audio loop does, keeping (source, message) pairs."""

    def __init__(self, mi):
        self.mi, self.got, self.deltas, self.polls = mi, [], [], 0
        self.feeds = [lambda msg, dt, s=s: self._keep(s, msg, dt) for s in range(16)]

    def _keep(self, source, msg, delta):
        self.got.append((source, tuple(msg)))
        self.deltas.append(delta)

    def __call__(self):
        self.mi.poll(self.feeds)
        self.polls += 1
        return self.got

    def send(self, port, msg):
        """``msg`` from ``port`` until one more message arrives (resending only what JACK lost)."""
        n = len(self.got)
        deliver(port, lambda: len(self()) > n, lambda: self.polls, msg)
        return self.got[n:]


def test_default_opens_hardware_ports_only_and_never_a_peer_of_the_virtual_port(midi_in, jack_ports):
    mi = midi_in()
    assert mi.start(), mi.error
    kbd = jack_ports("psynth-hw1", physical=True)
    pad = jack_ports("psynth-hw2", physical=True)
    soft = jack_ports("psynth-soft")
    pad.connect(CLIENT + ":" + CLIENT)  # a hardware port patched to the virtual port
    soft.connect(CLIENT + ":" + CLIENT)
    _settle(mi, ["psynth-hw1:out"])
    assert [s for _, s in mi.inputs] == [1, 2]  # the virtual port, then the keyboard
    # each message reaches the feed of the input it came from, once
    got = Collector(mi)
    kbd.settle()
    assert got.send(kbd, [0x90, 60, 1]) == [(2, (0x90, 60, 1))]
    assert got.send(pad, [0x90, 61, 2]) == [(1, (0x90, 61, 2))]
    assert got.send(soft, [0x90, 62, 3]) == [(1, (0x90, 62, 3))]
    kbd.settle(64)  # time for a second copy to show up
    assert len(got()) == 3
    # unpatched from the virtual port, the pad is an ordinary hardware port: opened
    pad.disconnect(CLIENT + ":" + CLIENT)
    _settle(mi, ["psynth-hw1:out", "psynth-hw2:out"])
    assert dict((n, s) for n, (m, s) in mi._open.items())["psynth-hw2:out"] == 3


def test_midi_clock_ticks_arrive_with_their_delta_times(midi_in, jack_ports):
    # rtmidi drops timing messages unless told not to; the engine times the clock by the deltas
    mi = midi_in()
    assert mi.start(), mi.error
    seq = jack_ports("psynth-seq", physical=True)
    _settle(mi, ["psynth-seq:out"])
    got = Collector(mi)
    seq.settle()
    assert got.send(seq, [0xF8]) == [(2, (0xF8,))]
    assert got.send(seq, [0xF8]) == [(2, (0xF8,))]
    assert all(isinstance(d, float) and d >= 0.0 for d in got.deltas) and got.deltas[1] > 0.0


def test_a_name_match_opens_software_ports_too_but_not_peers(midi_in, jack_ports):
    mi = midi_in(match="PSYNTH-SW")  # case-insensitive
    assert mi.start(), mi.error
    jack_ports("psynth-sw1")
    peer = jack_ports("psynth-sw2")
    peer.connect(CLIENT + ":" + CLIENT)
    jack_ports("psynth-hw9", physical=True)  # does not match
    _settle(mi, ["psynth-sw1:out"])


def test_a_lost_port_gives_its_number_back_only_when_its_notes_are_released(midi_in, jack_ports):
    mi = midi_in()
    assert mi.start(), mi.error
    a = jack_ports("psynth-hwA", physical=True)
    jack_ports("psynth-hwB", physical=True)
    _settle(mi, ["psynth-hwA:out", "psynth-hwB:out"])
    numbers = {n: s for n, (m, s) in mi._open.items()}
    assert sorted(numbers.values()) == [2, 3]
    a.close()
    seen = _settle(mi, ["psynth-hwB:out"])
    lost = [x for _, ls in seen for x in ls]
    assert lost == [("psynth-hwA:out", numbers["psynth-hwA:out"])]
    assert all(m is not a for m, _ in mi.inputs)
    jack_ports("psynth-hwC", physical=True)
    _settle(mi, ["psynth-hwB:out", "psynth-hwC:out"])
    # A's number is still held (its notes might still be sounding): C got a new one
    assert mi._open["psynth-hwC:out"][1] not in (numbers["psynth-hwA:out"], numbers["psynth-hwB:out"])
    mi.free_source(numbers["psynth-hwA:out"])
    jack_ports("psynth-hwD", physical=True)
    _settle(mi, ["psynth-hwB:out", "psynth-hwC:out", "psynth-hwD:out"])
    assert mi._open["psynth-hwD:out"][1] == numbers["psynth-hwA:out"]


@pytest.mark.parametrize(
    "error", [rtmidi.SystemError, rtmidi.RtMidiError, rtmidi.InvalidPortError, rtmidi.InvalidUseError]
)
def test_a_port_the_library_refuses_to_open_is_reported_and_tried_again(monkeypatch, midi_in, jack_ports, error):
    class Refusing(rtmidi.MidiIn):  # the real client, but open_port raises as the library can
        failing = True

        def open_port(self, *args, **kwargs):
            if Refusing.failing:
                raise error("open_port: refused")
            return super().open_port(*args, **kwargs)

    monkeypatch.setattr(rtmidi, "MidiIn", Refusing)
    mi = midi_in()
    assert mi.start(), mi.error
    jack_ports("psynth-hwE", physical=True)
    assert wait_for(lambda: mi.rescan() == ([], []) and "cannot open psynth-hwE:out" in mi.error, 10.0), mi.error
    assert mi.port_names == [] and [s for _, s in mi.inputs] == [1]
    Refusing.failing = False
    _settle(mi, ["psynth-hwE:out"])


def test_scanner_failure_loses_the_ports_then_recovers(monkeypatch, midi_in, jack_ports):
    import jack

    mi = midi_in()
    assert mi.start(), mi.error
    jack_ports("psynth-hwF", physical=True)
    _settle(mi, ["psynth-hwF:out"])
    src = mi._open["psynth-hwF:out"][1]

    def broken(*args, **kwargs):
        raise jack.JackError("server gone")

    monkeypatch.setattr(mi._scanner, "get_ports", broken)
    opened, lost = mi.rescan()
    assert (opened, lost) == ([], [("psynth-hwF:out", src)])  # nothing can arrive from it: its notes go
    assert "cannot be listed" in mi.error and mi.port_names == []
    mi.free_source(src)
    _settle(mi, ["psynth-hwF:out"])  # a new scanner finds it again


def test_jack_without_a_server_or_without_jack_client(monkeypatch, midi_in):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "psynth-no-such-server")
    mi = midi_in()
    assert mi.start() is False and "JACK" in mi.error  # rtmidi.SystemError, reported
    assert mi.rescan() == ([], [])
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "jack", None)  # JACK-Client not installed
    mi = midi_in()
    assert mi.start() is True and "JACK-Client" in mi.error  # the virtual port still plays
    assert [s for _, s in mi.inputs] == [rtmidi_in.VIRTUAL_SOURCE]
    assert mi.rescan() == ([], [])
