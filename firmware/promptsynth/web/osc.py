"""OSC over UDP (TouchOSC, a laptop's patch): the instrument played and steered from the network.

Off unless [osc] enabled. Only senders whose IP address is in [osc] allow are obeyed (an entry
may also be a network, ``192.168.1.0/24``); any other sender's packets are dropped unread and
counted (``ignored``), each such address logged once. OSC has no password.

What it obeys (every address under /promptsynth; the types are OSC's):

======================================  ==========================================================
``/promptsynth/prompt s``               the prompt this sender's next /generate uses
``/promptsynth/generate [s]``           queue a sound from ``s`` (remembered as above), else from
                                        the remembered prompt; answers ``/promptsynth/job i s``
                                        (the job's id, "queued")
``/promptsynth/cancel [i]``             cancel job ``i``, or every job; answers
                                        ``/promptsynth/cancelled i`` (how many)
``/promptsynth/preset/load s s``        play a stored preset (bank, name)
``/promptsynth/param/NAME v``           set one sound setting by its schema name
                                        (``/promptsynth/param/cutoff 800.0``): a number for a
                                        number (a float of no fraction does for a whole number),
                                        text for a choice (``filter_type``), true/false (or 0/1)
                                        for a switch; the config's schema checks it
``/promptsynth/note i i``               a note as a keyboard plays it (key, velocity; 0 releases)
``/promptsynth/status``                 answers with the state: ``/promptsynth/preset s s``,
                                        ``/promptsynth/voices i``, ``/promptsynth/model s``,
                                        ``/promptsynth/queued i``, ``/promptsynth/problems i s``
                                        (how many, one line) and ``/promptsynth/job i s f`` for each
                                        job the page lists
======================================  ==========================================================

A message refused (wrong arguments, a value outside the schema's range, an unknown preset or
setting, the daemon loop not answering) is answered ``/promptsynth/error s s`` (the address, why).
Answers go to the sender's IP address, at [osc] reply_port, or (0) the port it sent from.
Address patterns are not expanded: ``/promptsynth/*`` is an unknown address, not every command
at once. Messages outside /promptsynth are ignored (a layout sends its own).

What changes is sent to every sender heard from in the last 10 minutes (the 16 heard from
last): ``/promptsynth/job i s f`` (id, state, progress 0-1) when a job's state or step changes,
``/promptsynth/preset s s`` when another preset plays, ``/promptsynth/voices i`` when the number
of sounding voices changes. A sender new to the list first gets the preset, the voices and the
jobs not ended yet.

Threads: one receives (python-osc's blocking server), one hands what it received to the daemon
loop (web/bridge.py: the only way in), one watches the state for changes; answers leave from a
socket of their own.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple, Union

from pythonosc import dispatcher as osc_dispatcher
from pythonosc import osc_packet, osc_server
from pythonosc.osc_message_builder import OscMessageBuilder

from promptsynth import config as config_mod
from promptsynth.config import OscConfig, SoundSettings
from promptsynth.web import actions
from promptsynth.web.bridge import Bridge

log = logging.getLogger("osc")

PREFIX = "/promptsynth/"
ERROR = "/promptsynth/error"
JOB = "/promptsynth/job"
PRESET = "/promptsynth/preset"
VOICES = "/promptsynth/voices"

POLL_S = 0.2  # how often the state is looked at, while someone listens
SENDER_TTL_S = 600.0  # a sender not heard from for this long is sent nothing more
MAX_SENDERS = 16  # senders sent the state's changes (the least recently heard make way)
MAX_WAITING = 256  # commands that may wait for the daemon loop; more are refused ("busy")
MAX_BATCH = 16  # commands run in one call on the daemon loop
KEEP_JOBS = 64  # jobs whose state as last sent is remembered
MAX_TEXT = 400  # characters of text in an answer (an error's message)
MAX_LOGGED = 256  # refused addresses remembered to log each once
SERVE_POLL_S = 0.2  # how soon the receiving thread notices stop()
INT32 = 2**31 - 1  # python-osc 1.8 refuses to send a larger int

Address = Tuple[str, int]
Message = Tuple[str, Tuple[Any, ...]]
ENDED = ("done", "failed", "cancelled")


class _Refused(ValueError):
    """A message that cannot be obeyed as sent (its arguments): answered with /promptsynth/error."""


@dataclasses.dataclass
class _Sender:
    reply_to: Address
    heard: float
    prompt: str = ""
    primed: bool = False  # has been sent the whole state (then only its changes)


@dataclasses.dataclass
class _Command:
    reply_to: Address
    address: str
    fn: Callable[..., Any]
    args: Tuple[Any, ...]
    answer: Optional[Callable[[Any], List[Message]]] = None  # its result as the messages to send back


def _run_batch(batch: List[_Command]) -> List[Tuple[bool, Any]]:
    """On the daemon loop's thread: each command in the order it arrived, each contained."""
    out: List[Tuple[bool, Any]] = []
    for c in batch:
        try:
            out.append((True, c.fn(*c.args)))
        except Exception as e:  # answered to its sender; the rest of the batch runs
            out.append((False, e))
    return out


def _why(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:MAX_TEXT]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _whole(v: Any, what: str) -> int:
    """An OSC int, or a float with no fraction (a fader's 64.0)."""
    if _is_int(v):
        return int(v)
    if isinstance(v, float) and v == v and abs(v) < 2**53 and v == int(v):
        return int(v)
    raise _Refused("%s must be a whole number, got %r" % (what, v))


def _sound_value(name: str, v: Any) -> Any:
    """An OSC argument as the sound setting ``name`` takes it (the schema checks it after):
    a float of no fraction for a whole number, 0/1 for a switch, a 32-bit float's digits only
    (0.1 arrives as 0.10000000149011612 and is stored as 0.1). Anything else goes as it came, so
    the schema's own message says what is wrong with it."""
    f = _SOUND_FIELDS.get(name)
    if f is None:
        return v
    want = type(f.default)
    if want is int and isinstance(v, float) and v == v and abs(v) < 2**53 and v == int(v):
        return int(v)
    if want is bool and not isinstance(v, bool) and isinstance(v, (int, float)) and v in (0, 1):
        return bool(v)
    if want is float and isinstance(v, float):
        return float("%.7g" % v)
    return v


_SOUND_FIELDS = {f.name: f for f in dataclasses.fields(SoundSettings)}

_Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _networks(allow: Tuple[str, ...]) -> List[_Net]:
    nets = []
    for entry in allow:
        try:
            nets.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise config_mod.ConfigError(
                "[osc] allow: %r is not an IP address (nor a network such as 192.168.1.0/24)" % (entry,)
            ) from None
    return nets


def _ip(text: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a socket bound to "::" sees IPv4 senders as ::ffff:a.b.c.d
    return ip


def _message(address: str, args: Tuple[Any, ...]) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        if isinstance(a, bool):
            b.add_arg(a, "T" if a else "F")
        elif isinstance(a, int):
            b.add_arg(max(-INT32 - 1, min(INT32, a)), "i")
        elif isinstance(a, float):
            b.add_arg(a, "f")
        else:
            b.add_arg(str(a).replace("\x00", "")[:MAX_TEXT], "s")
    return b.build().dgram


def _progress(job: Dict[str, Any]) -> float:
    if job["state"] == "done":
        return 1.0
    return min(max(job["step"] / job["total"], 0.0), 1.0) if job["total"] else 0.0


def _job_message(job: Dict[str, Any]) -> Message:
    return JOB, (int(job["id"]), str(job["state"]), _progress(job))


class _Dispatcher(osc_dispatcher.Dispatcher):
    """Every message of a packet handled at once, whatever a bundle's time tag says (the stock
    dispatcher sleeps until it: one bundle stamped next year would hold the receiving thread for
    good), and nothing in a packet raises out of it."""

    def __init__(self, owner: OscServer):
        super().__init__()
        self._owner = owner

    def call_handlers_for_packet(self, data: bytes, client_address: Tuple[str, int]) -> Any:
        try:
            messages = [m.message for m in osc_packet.OscPacket(data).messages]
        except Exception:  # ParseError, and whatever else a crafted packet makes the parser raise
            self._owner.malformed += 1
            log.debug("OSC: a malformed packet from %s", client_address[0])
            return []
        for msg in messages:
            try:
                for handler in self.handlers_for_address(msg.address):
                    handler.invoke(client_address, msg)
            except Exception:  # the handlers contain their own errors: this is the matching
                self._owner.malformed += 1
                log.debug("OSC: a message from %s not dispatched", client_address[0], exc_info=True)
        return []  # python-osc 1.10 would send a returned value back as a message


class _UDPServer(osc_server.BlockingOSCUDPServer):
    """python-osc's blocking server with the sender checked before its packet is even parsed."""

    def __init__(self, address: Tuple[str, int], dispatcher: _Dispatcher, owner: OscServer):
        self._owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6  # python-osc 1.8 assumes IPv4
        super().__init__(address, dispatcher)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self._owner._allowed(client_address[0]) and super().verify_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self._owner._unexpected("a packet from %s" % (client_address,))


class OscServer:
    """OSC on [osc] host:port, driving ``inst`` through ``bridge`` (see the module's docstring)."""

    def __init__(
        self,
        osc_cfg: OscConfig,
        bridge: Bridge,
        inst,
        board: actions.JobBoard,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.cfg, self.bridge, self.inst, self.board, self.clock = osc_cfg, bridge, inst, board, clock
        self._allow = _networks(tuple(osc_cfg.allow))
        # counters (for tests, `bench` and the log)
        self.ignored = 0  # packets from senders not in [osc] allow
        self.received = 0  # messages from allowed senders
        self.malformed = 0  # packets that are not OSC (or not as OSC says)
        self.refused = 0  # messages answered with /promptsynth/error
        self.errors = 0  # failures of this code itself (logged)
        self._refused_logged: Set[str] = set()
        self._unexpected_logged: Set[str] = set()
        self._senders: Dict[Address, _Sender] = {}
        self._lock = threading.Lock()  # the senders and the sockets
        self._work: Deque[_Command] = deque()
        self._work_cv = threading.Condition()
        self._stopping = threading.Event()
        self._heard = threading.Event()  # a new sender: the watcher wakes
        self._last: Optional[Tuple[Tuple[str, str], int]] = None  # the preset and voices last sent
        self._jobs_sent: Dict[int, Tuple[str, int]] = {}  # each job's (state, step) as last sent
        self._socks: Dict[int, socket.socket] = {}  # address family -> the socket answers leave from
        self._server: Optional[_UDPServer] = None
        self._threads: List[threading.Thread] = []
        d = _Dispatcher(self)
        d.map(PREFIX + "*", self._on_message, needs_reply_address=True)
        d.set_default_handler(self._on_message, needs_reply_address=True)
        self._dispatcher = d
        self._routes: Dict[str, Callable[[_Sender, str, Tuple[Any, ...]], Optional[_Command]]] = {
            PREFIX + "prompt": self._prompt,
            PREFIX + "generate": self._generate,
            PREFIX + "cancel": self._cancel,
            PREFIX + "preset/load": self._load_preset,
            PREFIX + "note": self._note,
            PREFIX + "status": self._status,
        }

    # ---- starting and stopping ------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The UDP port it listens on (the one the OS chose for [osc] port 0); 0 when stopped."""
        return int(self._server.server_address[1]) if self._server is not None else 0

    def start(self) -> None:
        """Listen and start the threads; raises OSError naming host:port when it cannot bind."""
        if self._server is not None:
            return
        host, port = self.cfg.host, self.cfg.port
        try:
            server = _UDPServer((host, port), self._dispatcher, self)
        except (OSError, OverflowError, ValueError, TypeError) as e:
            why = "OSC cannot listen on %s:%s (UDP): %s" % (host, port, getattr(e, "strerror", None) or _why(e))
            err = OSError(why)
            err.errno = getattr(e, "errno", None)
            raise err from None
        self._server = server
        self._stopping.clear()
        # python-osc's blocking server, not the threading one: one thread takes the packets in the
        # order they came (a note-off never overtakes its note-on, a fader's last value is the one
        # that stays), a flood starts no threads, and handing each message on takes microseconds
        # (the command thread below waits for the daemon loop, taking all that came meanwhile in
        # one call, so a fader's stream is not held to one message per round of the loop).
        self._threads = [
            threading.Thread(target=server.serve_forever, args=(SERVE_POLL_S,), name="osc-in", daemon=True),
            threading.Thread(target=self._command_loop, name="osc-commands", daemon=True),
            threading.Thread(target=self._state_loop, name="osc-state", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("OSC on %s:%d (UDP), obeying %s", host, self.port, ", ".join(str(n) for n in self._allow) or "nobody")

    def stop(self, timeout: float = 2.0) -> None:
        """Stop listening, close the sockets; commands waiting are dropped."""
        self._stopping.set()
        self._heard.set()
        with self._work_cv:
            self._work.clear()
            self._work_cv.notify_all()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # (serve_forever runs in the thread started with it)
            server.server_close()
        for t in self._threads:
            t.join(timeout)  # a command thread waiting for a stopped loop gives up by itself (Busy)
        self._threads = []
        with self._lock:
            for s in self._socks.values():
                s.close()
            self._socks.clear()

    # ---- who may send ---------------------------------------------------------------------------
    def _allowed(self, host: str) -> bool:
        ip = _ip(host)
        if ip is not None and any(ip.version == n.version and ip in n for n in self._allow):
            return True
        self.ignored += 1
        if host not in self._refused_logged and len(self._refused_logged) < MAX_LOGGED:
            self._refused_logged.add(host)
            log.warning("OSC from %s ignored: not in [osc] allow", host)
        return False

    def _hear(self, client: Tuple[str, int]) -> _Sender:
        """The sender of a message, now heard from (the state's changes go to it a while)."""
        reply_to = (str(client[0]), int(self.cfg.reply_port or client[1]))
        now = self.clock()
        with self._lock:
            s = self._senders.get(reply_to)
            if s is None:
                self._expire(now)
                if len(self._senders) >= MAX_SENDERS:
                    oldest = min(self._senders.values(), key=lambda x: x.heard)
                    del self._senders[oldest.reply_to]
                    log.debug("OSC: %s:%d is sent nothing more (%d senders)", *oldest.reply_to, MAX_SENDERS)
                s = self._senders[reply_to] = _Sender(reply_to, now)
                self._heard.set()
            s.heard = now
            return s

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._senders.items() if now - s.heard > SENDER_TTL_S]:
            del self._senders[key]

    def subscribers(self) -> List[Address]:
        """Where the state's changes go: the senders heard from lately, newest last."""
        with self._lock:
            self._expire(self.clock())
            return [s.reply_to for s in sorted(self._senders.values(), key=lambda x: x.heard)]

    # ---- receiving (the receiving thread) -------------------------------------------------------
    def _on_message(self, client: Tuple[str, int], address: str, *args: Any) -> None:
        """Every message from an allowed sender; never raises, returns None (see _Dispatcher)."""
        try:
            if not address.startswith(PREFIX):
                log.debug("OSC: %s from %s is not ours", address, client[0])
                return
            self.received += 1
            sender = self._hear(client)
            route = self._routes.get(address)
            if route is None and address.startswith(PREFIX + "param/"):
                route = self._param
            try:
                if route is None:
                    raise _Refused(
                        "unknown address (known: %s, %sparam/NAME)" % (", ".join(sorted(self._routes)), PREFIX)
                    )
                cmd = route(sender, address, args)
            except _Refused as e:
                self._refuse(sender.reply_to, address, str(e))
                return
            if cmd is not None:
                self._queue(cmd)
        except Exception:
            self._unexpected("%s from %s" % (address, client))

    def _prompt(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> None:
        if len(args) != 1 or not isinstance(args[0], str):
            raise _Refused("needs one argument, the prompt (s)")
        with self._lock:
            sender.prompt = args[0]
        return None

    def _generate(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> _Command:
        if len(args) > 1 or (args and not isinstance(args[0], str)):
            raise _Refused("needs no argument (the prompt sent to /promptsynth/prompt) or the prompt (s)")
        with self._lock:
            if args:
                sender.prompt = args[0]
            prompt = sender.prompt
        if not prompt:
            raise _Refused("no prompt: send /promptsynth/prompt s first, or /promptsynth/generate s")
        return _Command(sender.reply_to, address, actions.generate, (self.inst, self.board, prompt), self._queued)

    def _queued(self, job: Any) -> List[Message]:
        """A job queued from here: known to the watcher as queued, so that its end is news even
        when it ends before the state is next looked at (the tiny model takes a tenth of that)."""
        with self._lock:
            self._jobs_sent.setdefault(int(job), ("queued", 0))
        return [(JOB, (int(job), "queued"))]

    def _cancel(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> _Command:
        if len(args) > 1 or (args and not _is_int(args[0])):
            raise _Refused("needs no argument (every job) or a job's id (i)")
        job = int(args[0]) if args else None
        return _Command(
            sender.reply_to, address, actions.cancel, (self.inst, job), lambda n: [(PREFIX + "cancelled", (int(n),))]
        )

    def _load_preset(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> _Command:
        if len(args) != 2 or not all(isinstance(a, str) for a in args):
            raise _Refused("needs two arguments, the bank and the preset's name (s s)")
        return _Command(sender.reply_to, address, actions.load_preset, (self.inst, args[0], args[1]))

    def _param(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> _Command:
        name = address[len(PREFIX + "param/") :]
        if len(args) != 1:
            raise _Refused("needs one argument, the value")
        value = _sound_value(name, args[0])
        return _Command(sender.reply_to, address, actions.set_setting, (self.inst, "sound", name, value))

    def _note(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> _Command:
        if len(args) != 2:
            raise _Refused("needs two arguments, the key and the velocity (i i)")
        key, velocity = _whole(args[0], "the key"), _whole(args[1], "the velocity")
        return _Command(sender.reply_to, address, actions.note, (self.inst, key, velocity))

    def _status(self, sender: _Sender, address: str, args: Tuple[Any, ...]) -> _Command:
        if args:
            raise _Refused("needs no arguments")
        return _Command(
            sender.reply_to, address, actions.status, (self.inst, self.board), lambda st: self._state(st, True)
        )

    def _queue(self, cmd: _Command) -> None:
        with self._work_cv:
            if len(self._work) < MAX_WAITING:
                self._work.append(cmd)
                self._work_cv.notify()
                return
        self._refuse(cmd.reply_to, cmd.address, "the instrument is busy: %d messages wait" % MAX_WAITING)

    # ---- obeying (the command thread) -----------------------------------------------------------
    def _command_loop(self) -> None:
        while True:
            with self._work_cv:
                while not self._work and not self._stopping.is_set():
                    self._work_cv.wait()
                if self._stopping.is_set():
                    return
                batch = [self._work.popleft() for _ in range(min(MAX_BATCH, len(self._work)))]
            try:
                results = self.bridge.call(_run_batch, batch)
            except Exception as e:  # Busy: the daemon loop did not answer
                results = [(False, e)] * len(batch)
            for cmd, (ok, value) in zip(batch, results):
                try:
                    if not ok:
                        self._refuse(cmd.reply_to, cmd.address, _why(value))
                    elif cmd.answer is not None:
                        for address, args in cmd.answer(value):
                            self._send(cmd.reply_to, address, args)
                except Exception:
                    self._unexpected("the answer to %s" % cmd.address)

    # ---- the state's changes (the watching thread) ----------------------------------------------
    def _state_loop(self) -> None:
        while not self._stopping.is_set():
            if not self.subscribers():
                self._last = None
                with self._lock:
                    self._jobs_sent = {}
                self._heard.wait(1.0)
                self._heard.clear()
                continue
            if self._stopping.wait(POLL_S):
                return
            try:
                st = self.bridge.call(actions.status, self.inst, self.board)
            except Exception as e:  # Busy: looked at again next time
                log.debug("OSC: no state (%s)", _why(e))
                continue
            try:
                self._publish(st)
            except Exception:
                self._unexpected("the state's changes")

    def _publish(self, st: Dict[str, Any]) -> None:
        now = ((str(st["preset"]["bank"]), str(st["preset"]["name"])), int(st["meters"]["voices"]))
        jobs = list(reversed(st["jobs"]))  # oldest first
        view = {int(j["id"]): (str(j["state"]), int(j["step"])) for j in jobs}
        last, self._last = self._last, now
        with self._lock:
            sent = self._jobs_sent
            # the jobs as now sent, and those queued from here that the view does not show yet
            known = {i: v for i, v in sent.items() if i not in view and v[0] not in ENDED}
            known.update(view)
            self._jobs_sent = dict(sorted(known.items())[-KEEP_JOBS:])
            targets = [(s.reply_to, s.primed and last is not None) for s in self._senders.values()]
            for s in self._senders.values():
                s.primed = True
        changed = [j for j in jobs if sent.get(int(j["id"])) != view[int(j["id"])]]
        changes: List[Message] = []
        if last is not None and now[0] != last[0]:
            changes.append((PRESET, now[0]))
        if last is not None and now[1] != last[1]:
            changes.append((VOICES, (now[1],)))
        changes += [_job_message(j) for j in changed]
        whole: List[Message] = []
        if not all(primed for _, primed in targets):  # a new listener: the state, and what is news
            whole = self._state(st, False) + [
                _job_message(j) for j in changed if j["state"] in ENDED and int(j["id"]) in sent
            ]
        for reply_to, primed in targets:
            for address, args in changes if primed else whole:
                self._send(reply_to, address, args)

    @staticmethod
    def _state(st: Dict[str, Any], everything: bool) -> List[Message]:
        """The state as messages: /status's answer (``everything``), or what a new sender gets
        first (the preset, the voices, the jobs not ended)."""
        out: List[Message] = [
            (PRESET, (str(st["preset"]["bank"]), str(st["preset"]["name"]))),
            (VOICES, (int(st["meters"]["voices"]),)),
        ]
        if everything:
            problems = [str(p) for p in st["problems"]]
            out += [
                (PREFIX + "model", (str(st["model"]),)),
                (PREFIX + "queued", (int(st["queued"]),)),
                (PREFIX + "problems", (len(problems), "; ".join(problems))),
            ]
        out += [_job_message(j) for j in reversed(st["jobs"]) if everything or j["state"] not in ENDED]
        return out

    # ---- sending --------------------------------------------------------------------------------
    def _refuse(self, reply_to: Address, address: str, why: str) -> None:
        self.refused += 1
        log.debug("OSC %s from %s refused: %s", address, reply_to[0], why)
        self._send(reply_to, ERROR, (address, why))

    def _send(self, reply_to: Address, address: str, args: Tuple[Any, ...]) -> None:
        """One message to one sender; a failure (an unreachable sender) is counted, never raised."""
        try:
            dgram = _message(address, args)
            family = socket.AF_INET6 if ":" in reply_to[0] else socket.AF_INET
            with self._lock:
                if self._stopping.is_set():
                    return
                sock = self._socks.get(family)
                if sock is None:
                    sock = self._socks[family] = socket.socket(family, socket.SOCK_DGRAM)
            sock.sendto(dgram, reply_to)
        except Exception as e:
            log.debug("OSC: %s to %s not sent: %s", address, reply_to, _why(e))

    def _unexpected(self, what: str) -> None:
        """A failure of this code (never of a sender's message): logged with its traceback, once
        per kind of message, and the server carries on."""
        self.errors += 1
        key = what.split(" from ", 1)[0]
        if key not in self._unexpected_logged and len(self._unexpected_logged) < MAX_LOGGED:
            self._unexpected_logged.add(key)
            log.exception("OSC: %s failed (carrying on)", what)
        else:
            log.debug("OSC: %s failed", what, exc_info=True)
