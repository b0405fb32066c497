"""MIDI in through python-rtmidi: hardware ports (or those matching a name), a virtual port for
software, hotplug by polling.

Which ports are opened (``[midi] port``):
  ""       every hardware port: on ALSA the ports of kernel clients (numbers below 128; USB and
           other MIDI devices), except "Midi Through"; on JACK the physical ports
           (JackPortIsPhysical: the ALSA backend's ``system:midi_capture_*``, a2jmidid's hardware
           ports). Software reaches the instrument through its virtual port.
  "text"   every port whose name contains the text (case-insensitive), hardware or software.
Either way a port that is already connected to our virtual port is never opened as well: it
would play every note twice.

python-rtmidi has no disconnect event and a new client per poll leaks sequencer clients, so one
persistent scanning client lists the ports (ALSA: an rtmidi client plus
``/proc/asound/seq/clients`` for client kinds and connections; JACK: a JACK-Client client, which
sees port flags and connections), and each opened port keeps its own rtmidi client for as long
as the instrument runs (closed ports' clients are re-used for the next one that appears). One
spare client is made at start: on JACK, making a client holds the GIL for tens of milliseconds,
which stalls the audio loop, and a port that appears should not cost that.

Sources: every input has a number that tags its notes, so that losing a port releases only its
notes and pedal: 0 is the engine's own (front panel, tests), 1 the virtual port, 2 and up the
opened ports. A lost port's number is only given to another port after :meth:`free_source`,
called once the audio loop has released the lost port's notes.

Threading: :meth:`rescan` runs in the engine's control thread; :meth:`poll` in the audio loop.
The audio loop only reads ``self.inputs``, a tuple replaced whole by :meth:`rescan`, and a port
is closed one rescan after it left that tuple, so the two never touch the same port at once.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

CLIENT = "promptsynth"
PROC_CLIENTS = "/proc/asound/seq/clients"
VIRTUAL_SOURCE = 1
FIRST_PORT_SOURCE = 2
_NUMBERS = re.compile(r"\s+\d+:\d+$")
_ADDRESS = re.compile(r"\s(\d+):(\d+)$")


def base_name(port: str) -> str:
    """A port's name without ALSA's trailing client:port numbers, which change on replug."""
    return _NUMBERS.sub("", port)


def alsa_address(port: str) -> Optional[Tuple[int, int]]:
    """(client, port) from an rtmidi ALSA port name ("Keyboard:Keyboard MIDI 1 20:0")."""
    mo = _ADDRESS.search(port)
    return (int(mo.group(1)), int(mo.group(2))) if mo else None


# ---- ALSA: /proc/asound/seq/clients --------------------------------------------------------------


class SeqPort(NamedTuple):
    client: int
    port: int
    client_name: str
    name: str
    kernel: bool  # a kernel client: a device driver (or Midi Through)
    connecting_to: Tuple[Tuple[int, int], ...]
    connected_from: Tuple[Tuple[int, int], ...]


_CLIENT_LINE = re.compile(r'^Client\s+(\d+)\s*:\s*"(.*)"\s*\[\s*(\w+)')
_PORT_LINE = re.compile(r'^\s+Port\s+(\d+)\s*:\s*"(.*)"')
_SUBS_LINE = re.compile(r"^\s+(Connecting To|Connected From)\s*:(.*)$")
_PAIR = re.compile(r"(?<![\w:])(\d+):(\d+)")


def parse_seq_clients(text: str) -> Dict[Tuple[int, int], SeqPort]:
    """Every port in the text of ``/proc/asound/seq/clients``, by (client, port).

    Tolerant of the kernel's variations (``[User Legacy]``/``[User UMP MIDI1]`` client kinds,
    ``[In/Out]`` port directions, ``[real:0]``/``[ex]`` marks after an address); lines it does not
    know are skipped.
    """
    ports: Dict[Tuple[int, int], SeqPort] = {}
    client, client_name, kernel = -1, "", False
    current: Optional[Tuple[int, int]] = None
    for line in text.splitlines():
        mo = _CLIENT_LINE.match(line)
        if mo:
            client, client_name, kernel = int(mo.group(1)), mo.group(2), mo.group(3).lower() == "kernel"
            current = None
            continue
        mo = _PORT_LINE.match(line)
        if mo and client >= 0:
            current = (client, int(mo.group(1)))
            ports[current] = SeqPort(client, current[1], client_name, mo.group(2), kernel, (), ())
            continue
        mo = _SUBS_LINE.match(line)
        if mo and current is not None:
            pairs = tuple((int(a), int(b)) for a, b in _PAIR.findall(mo.group(2)))
            p = ports[current]
            if mo.group(1) == "Connecting To":
                ports[current] = p._replace(connecting_to=p.connecting_to + pairs)
            else:
                ports[current] = p._replace(connected_from=p.connected_from + pairs)
            continue
        if line and not line[0].isspace():  # "Client info", pools...: no longer in a port
            current = None
    return ports


class Candidate(NamedTuple):
    """A port the scanner sees, and what decides whether it is opened."""

    name: str  # as the API names it (ALSA: with the client:port numbers)
    hardware: bool
    peer: bool  # already connected to our virtual port


def classify_alsa(
    names: Sequence[str], seq: Optional[Dict[Tuple[int, int], SeqPort]], client: str = CLIENT
) -> List[Candidate]:
    """ALSA ports: hardware = a kernel client's port (client number below 128 when ``seq`` lacks
    the client); peer = connected to our virtual port (known only from ``seq``)."""
    seq = seq or {}
    ours: Set[Tuple[int, int]] = {a for a, p in seq.items() if p.client_name == client and p.name == client}
    out = []
    for name in names:
        addr = alsa_address(name)
        info = seq.get(addr) if addr is not None else None
        if addr is not None and addr[0] == 0:
            hardware = peer = False  # "System" (timer, announcements): no device
        elif info is not None:
            hardware = info.kernel and info.client_name != "Midi Through"
            peer = bool(ours.intersection(info.connecting_to)) or any(addr in seq[o].connected_from for o in ours)
        else:
            hardware = addr is not None and addr[0] < 128 and "Midi Through" not in name
            peer = False
        out.append(Candidate(name, hardware, peer))
    return out


# ---- the input -----------------------------------------------------------------------------------


class MidiInput:
    def __init__(
        self,
        api: str = "alsa",
        match: str = "",
        virtual: bool = True,
        client: str = CLIENT,
        sources: int = 16,
        proc_clients: str = PROC_CLIENTS,
    ):
        import rtmidi  # only here: the core imports without it

        self._rtmidi = rtmidi
        self.jack = api == "jack"
        self.api = rtmidi.API_UNIX_JACK if self.jack else rtmidi.API_LINUX_ALSA
        self.match = match
        self.virtual = virtual
        self.client = client
        self.proc_clients = proc_clients
        self.inputs: Tuple = ()  # ((rtmidi client, source), ...): read by the audio loop
        # rtmidi.MidiIn clients (rtmidi ships no types: Any)
        self._open: Dict[str, Tuple[Any, int]] = {}  # base name -> (MidiIn, source)
        self._free = list(range(sources - 1, FIRST_PORT_SOURCE - 1, -1))  # pop() gives the lowest
        self._spare: List[Any] = []
        self._closing: List[Any] = []
        self._scanner: Optional[Any] = None  # a MidiIn (ALSA) or a jack.Client (JACK), once started
        self._virtual: Optional[Any] = None  # the MidiIn of the virtual port
        self.error = ""

    @property
    def api_name(self) -> str:
        return "JACK" if self.jack else "ALSA"

    def _new_client(self):
        m = self._rtmidi.MidiIn(self.api, name=self.client)
        # SysEx arrives, to be counted; MIDI clock, to sync the delay
        m.ignore_types(sysex=False, timing=False, active_sense=True)
        return m

    def _new_scanner(self):
        if self.jack:
            import jack  # JACK-Client: port flags and connections, which rtmidi does not give

            return jack.Client(self.client + "-scan", no_start_server=True)
        return self._rtmidi.MidiIn(self.api, name=self.client + "-scan")

    def start(self) -> bool:
        """Create the scanning client, the virtual port and a spare client. False (with ``error``)
        if MIDI is absent."""
        if self._scanner is not None:
            return True
        try:
            if self.virtual and self._virtual is None:
                self._virtual = self._new_client()
                self._virtual.open_virtual_port(self.client)
                self.inputs = ((self._virtual, VIRTUAL_SOURCE),)
            self._scanner = self._new_scanner()
            if not self._spare:
                self._spare.append(self._new_client())
            self.error = ""
            return True
        except ImportError as e:
            self.error = "MIDI (JACK API): hardware ports need the JACK-Client package: %s" % e
        except Exception as e:  # rtmidi.SystemError/RtMidiError, jack.JackError: no sequencer or server
            self.error = "MIDI (%s API) unavailable: %s" % (self.api_name, e)
        self._scanner = None
        return self._virtual is not None  # the virtual port alone still plays

    def _seq(self) -> Optional[Dict[Tuple[int, int], SeqPort]]:
        try:
            with open(self.proc_clients) as fh:
                return parse_seq_clients(fh.read())
        except OSError:
            return None  # no procfs: client numbers still tell hardware, peers are unknown

    def _scan(self) -> List[Candidate]:
        """Every port that could be opened, classified (raises what the scanner raises)."""
        sc = self._scanner
        if sc is None:
            raise RuntimeError(self.error or "MIDI is not started")
        if self.jack:
            ours = {
                p.name
                for p in sc.get_ports(is_midi=True, is_input=True)
                if re.match(r"^%s(-\d+)?:%s$" % (re.escape(self.client), re.escape(self.client)), p.name)
            }
            out = []
            for p in sc.get_ports(is_midi=True, is_output=True):
                peer = bool(ours.intersection(q.name for q in sc.get_all_connections(p)))
                out.append(Candidate(p.name, p.is_physical, peer))
            return out
        return classify_alsa(sc.get_ports(), self._seq(), self.client)

    def _wanted(self, c: Candidate) -> bool:
        name = base_name(c.name)
        if c.peer:
            return False  # heard through the virtual port already
        if name.startswith(self.client) or ":" + self.client in name:
            return False  # our own ports
        if self.match:
            return self.match.lower() in name.lower()
        return c.hardware

    def ports(self) -> Tuple[List[str], List[str]]:
        """(the ports a rescan would open now, every other port seen), by base name: for `doctor`."""
        found = self._scan()
        return (
            [base_name(c.name) for c in found if self._wanted(c)],
            [base_name(c.name) for c in found if not self._wanted(c)],
        )

    def rescan(self) -> Tuple[List[str], List[Tuple[str, int]]]:
        """Open new wanted ports, drop vanished (or no longer wanted) ones.

        Returns (opened base names, [(lost base name, its source), ...]).
        """
        for m in self._closing:  # left ``inputs`` one rescan ago
            try:
                m.close_port()
            except Exception:
                pass
            self._spare.append(m)
        self._closing = []
        if self._scanner is None:
            if not self.start() or self._scanner is None:
                return [], []
        try:
            found = self._scan()
        except Exception as e:  # the sequencer or the JACK server itself went away
            self.error = "MIDI ports cannot be listed: %s" % e
            lost = self._drop(list(self._open))  # nothing arrives from them any more
            try:
                if self.jack:
                    self._scanner.close()
                else:
                    self._scanner.delete()
            except Exception:
                pass
            self._scanner = None  # made again at the next rescan
            return [], lost
        present = {base_name(c.name): c.name for c in found if self._wanted(c)}
        lost = self._drop([name for name in self._open if name not in present])
        opened = []
        for name, _full in present.items():
            if name in self._open:
                continue
            if not self._free:
                self.error = "cannot open %s: every MIDI input number is in use" % name
                continue
            m = self._spare.pop() if self._spare else self._new_client()
            try:
                names = [base_name(p) for p in m.get_ports()]
                m.open_port(names.index(name), name="in")
            except (ValueError, self._rtmidi.RtMidiError) as e:  # gone meanwhile, or the driver refused
                self.error = "cannot open %s: %s" % (name, e)
                self._spare.append(m)
                continue
            self._open[name] = (m, self._free.pop())
            opened.append(name)
        if opened or lost:
            self._publish()
        return opened, lost

    def _drop(self, names: List[str]) -> List[Tuple[str, int]]:
        lost = []
        for name in names:
            m, src = self._open.pop(name)
            self._closing.append(m)
            lost.append((name, src))
        if lost:
            self._publish()
        return lost

    def _publish(self) -> None:
        virtual = ((self._virtual, VIRTUAL_SOURCE),) if self._virtual is not None else ()
        self.inputs = virtual + tuple(self._open.values())

    def free_source(self, source: int) -> None:
        """The notes of the lost port that had ``source`` are released: the number may be re-used."""
        if source >= FIRST_PORT_SOURCE and source not in self._free:
            self._free.append(source)
            self._free.sort(reverse=True)

    @property
    def port_names(self) -> List[str]:
        return list(self._open)

    def poll(self, feeds: Sequence[Callable], limit: int = 256) -> int:
        """Hand every waiting message to ``feeds[source]``; at most ``limit`` a call (a flood waits)."""
        count = 0
        for m, source in self.inputs:
            feed = feeds[source]
            while count < limit:
                item = m.get_message()
                if item is None:
                    break
                feed(item[0], item[1])  # the message and its delta time (times MIDI clock)
                count += 1
        return count

    def close(self) -> None:
        self.inputs = ()
        clients = [m for m, _ in self._open.values()] + self._closing + self._spare + [self._virtual]
        for m in clients:
            if m is not None:
                try:
                    m.close_port()
                except Exception:
                    pass
                try:
                    m.delete()
                except Exception:
                    pass
        if self._scanner is not None:
            try:
                if self.jack:
                    self._scanner.close()
                else:
                    self._scanner.delete()
            except Exception:
                pass
        self._open.clear()
        self._closing, self._spare = [], []
        self._virtual = self._scanner = None
