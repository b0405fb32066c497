"""OSC control (web/osc.py): real UDP on 127.0.0.1 into a real daemon (the engine process on the
rig's JACK dummy server and ALSA tap), through the bridge, as a TouchOSC layout would drive it.

The daemon's loop runs in the test thread (``Live.until``: a step of the loop, then the bridge's
queued calls, as the daemon's step 7b does), so every wait is for behaviour, bounded generously
for a busy machine; no test measures a time. Most tests share one daemon without a generator
(they run on the Python 3.8 lane too); the generation test, first in the file, runs its own with
the tiny model and is done before the shared one starts (two engines must not write the one tap).
"""

import logging
import socket
import threading
import time

import numpy as np
import pytest
from pythonosc import dispatcher, osc_server, udp_client
from pythonosc.osc_bundle_builder import OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from conftest import RATE, step_until
from engine_harness import fresh_tap
from promptsynth import config
from promptsynth.bench.rig import wait_for
from promptsynth.config import OscConfig
from promptsynth.daemon.run import Daemon
from promptsynth.web.actions import JobBoard
from promptsynth.web.bridge import Bridge
from promptsynth.web.osc import ERROR, JOB, MAX_SENDERS, PRESET, SENDER_TTL_S, VOICES, OscServer

WAIT_S = 120.0  # a bound for things that take well under a second on an idle machine
GEN_WAIT_S = 400.0  # the tiny model at nice 10 on a busy machine (as the other generation tests)


class Inbox:
    """Where the instrument's answers arrive: python-osc's threading server on 127.0.0.1."""

    def __init__(self):
        self.got = []
        self.lock = threading.Lock()
        d = dispatcher.Dispatcher()
        d.set_default_handler(self._take)
        self.server = osc_server.ThreadingOSCUDPServer(("127.0.0.1", 0), d)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    def _take(self, address, *args):  # returns None: python-osc 1.10 would send a value back
        with self.lock:
            self.got.append((address, args))

    def find(self, address, where=lambda args: True):
        with self.lock:
            return [args for a, args in self.got if a == address and where(args)]

    def errors(self, address, text=""):
        return self.find(ERROR, lambda a: a[0] == address and text in a[1])

    def all(self):
        with self.lock:
            return list(self.got)

    def clear(self):
        with self.lock:
            del self.got[:]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Peer:
    """A sender with a socket of its own, for answers that go back to the port a message came
    from ([osc] reply_port 0) and for bytes no OSC library would send."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.got = []

    def send(self, port, address, *args):
        b = OscMessageBuilder(address)
        for a in args:
            b.add_arg(a)
        self.sock.sendto(b.build().dgram, ("127.0.0.1", port))

    def send_raw(self, port, data):
        self.sock.sendto(data, ("127.0.0.1", port))

    def received(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return self.got
            m = OscMessage(data)
            self.got.append((m.address, tuple(m.params)))

    def errors(self, address, text=""):
        return [a for ad, a in self.received() if ad == ERROR and a[0] == address and text in a[1]]

    def close(self):
        self.sock.close()


class Live:
    """A started daemon with an OSC server on port 0 and a client that sends to it."""

    def __init__(self, d, server, bridge, inbox):
        self.d, self.server, self.bridge, self.inbox = d, server, bridge, inbox
        self.inst = d.inst
        self.client = udp_client.SimpleUDPClient("127.0.0.1", server.port)
        self.bridges = [bridge]  # every bridge a server of the test uses: the loop serves them all

    def send(self, address, *args):
        self.client.send_message(address, list(args))

    def until(self, pred, timeout=WAIT_S):
        def check():
            for b in self.bridges:
                b.run_pending()
            return pred()

        return step_until(self.d, check, timeout)

    def run_for(self, seconds):
        self.until(lambda: False, seconds)

    def server_for(self, **osc):
        """Another OSC server on the same instrument with its own bridge (stopped by the caller)."""
        bridge = Bridge()
        self.bridges.append(bridge)
        srv = OscServer(
            OscConfig(**dict(dict(host="127.0.0.1", port=0), **osc)), bridge, self.inst, JobBoard(self.inst)
        )
        srv.start()
        return srv, bridge


def start_live(d, reply_port, **osc):
    bridge = Bridge()
    server = OscServer(
        OscConfig(host="127.0.0.1", port=0, reply_port=reply_port, **osc), bridge, d.inst, JobBoard(d.inst)
    )
    server.start()
    return server, bridge


# ---- generation (the tiny model; its own daemon) -----------------------------------------------


@pytest.mark.torch
def test_generate_remembers_the_prompt_reports_the_job_and_cancel_cancels(rig, tmp_path, tiny_models):
    from conftest import tiny_config
    from promptsynth.generator import protocol as gm

    d = Daemon(tiny_config(rig, tmp_path, tiny_models, seconds=1.0, steps=2), rig.env)
    inbox = Inbox()
    server = None
    seq = [0]
    ended = []

    def events():
        seq[0], evs = d.inst.events_since(seq[0])
        ended.extend(e for e in evs if isinstance(e, (gm.Result, gm.Failed)))
        return ended

    try:
        d.start()
        assert d.host.wait_ready(60.0)
        server, bridge = start_live(d, inbox.port)
        live = Live(d, server, bridge, inbox)
        inst = d.inst
        assert live.until(lambda: inst.model_state() == "ready", GEN_WAIT_S)
        before = {e.id for e in inst.library.entries()[0]}

        # a prompt, then /generate without one: the remembered prompt is made
        live.send("/promptsynth/prompt", "a soft bell")
        live.send("/promptsynth/generate")
        assert live.until(lambda: inbox.find(JOB, lambda a: len(a) == 2))
        ((job, state),) = inbox.find(JOB, lambda a: len(a) == 2)
        assert state == "queued"
        assert live.until(lambda: inbox.find(JOB, lambda a: a[:2] == (job, "done")), GEN_WAIT_S), inbox.all()
        assert abs(inbox.find(JOB, lambda a: a[:2] == (job, "done"))[0][2] - 1.0) < 1e-6
        assert live.until(lambda: inst.current.generation.get("prompt") == "a soft bell")
        new = [e for e in inst.library.entries()[0] if e.id not in before]
        assert len(new) == 1 and new[0].meta["recipe"]["prompt"] == "a soft bell"
        assert inst.current.sound == new[0].id  # and it plays
        assert [e.job_id for e in events() if isinstance(e, gm.Result)] == [job]

        # cancel: a long job runs, a second waits; the waiting one by its id, then every job
        inst.set_generation("seconds", 2.0)
        inst.set_generation("steps", 300)
        inbox.clear()
        live.send("/promptsynth/generate", "a long drone")
        live.send("/promptsynth/generate", "a second drone")
        assert live.until(lambda: len(inbox.find(JOB, lambda a: len(a) == 2)) == 2)
        (a, _), (b, _) = sorted(inbox.find(JOB, lambda a: len(a) == 2))
        live.send("/promptsynth/cancel", b)
        assert live.until(lambda: any(isinstance(e, gm.Failed) and e.job_id == b for e in events()))
        (failed_b,) = [e for e in events() if e.job_id == b]
        assert failed_b.kind == "cancelled"
        assert live.until(lambda: inbox.find(JOB, lambda x: x[:2] == (b, "cancelled")))
        assert live.until(lambda: inbox.find("/promptsynth/cancelled") == [(1,)])
        # the long one reports its progress while it runs
        assert live.until(lambda: inbox.find(JOB, lambda x: x[:2] == (a, "running")), GEN_WAIT_S), inbox.all()
        assert all(0.0 <= x[2] <= 1.0 for x in inbox.find(JOB, lambda x: x[:2] == (a, "running")))
        live.send("/promptsynth/cancel")
        assert live.until(lambda: any(e.job_id == a for e in events()), GEN_WAIT_S)
        (failed_a,) = [e for e in events() if e.job_id == a]
        assert isinstance(failed_a, gm.Failed) and failed_a.kind == "cancelled", failed_a
        assert live.until(lambda: inbox.find(JOB, lambda x: x[:2] == (a, "cancelled")))
        assert live.until(lambda: inbox.find("/promptsynth/cancelled") == [(1,), (1,)])
        assert inst.current.generation.get("prompt") == "a soft bell"  # nothing cancelled played
    finally:
        if server is not None:
            server.stop()
        inbox.close()
        d.stop()


# ---- one daemon without a generator, shared -----------------------------------------------------


@pytest.fixture(scope="module")
def shared(rig, tmp_path_factory):
    fresh_tap(rig)
    state = tmp_path_factory.mktemp("osc") / "state"
    d = Daemon(config.replace(rig.config("tap_jack"), "paths", state=str(state)), rig.env)
    inbox = Inbox()
    server = None
    try:
        d.start(generator=False)
        assert d.host.wait_ready(60.0)
        server, bridge = start_live(d, inbox.port)
        yield Live(d, server, bridge, inbox)
    finally:
        if server is not None:
            server.stop()
        inbox.close()
        d.stop()


@pytest.fixture
def live(shared):
    """The shared daemon, its inbox emptied of what earlier tests were sent."""
    shared.inbox.clear()
    return shared


def test_param_sets_the_sound_and_the_schema_refuses_what_it_must(live):
    s = live.inst.current.sampler
    live.send("/promptsynth/param/cutoff", 800.0)
    assert live.until(lambda: abs(live.inst.current.sampler.cutoff - 800.0) < 0.01)
    # refused, each answered with its reason, nothing changed
    for address, value, says in (
        ("/promptsynth/param/cutoff", 5.0, "between 20.0 and 20000.0"),  # below the schema's range
        ("/promptsynth/param/cutoff", "loud", "must be a number"),
        ("/promptsynth/param/filter_type", "notch", "must be one of"),
        ("/promptsynth/param/polyphony", 8.5, "whole number"),
        ("/promptsynth/param/nope", 1.0, "unknown key"),
    ):
        live.send(address, value)
        assert live.until(lambda: live.inbox.errors(address, says)), (address, live.inbox.all())
    live.send("/promptsynth/param/cutoff", 800.0, 900.0)
    assert live.until(lambda: live.inbox.errors("/promptsynth/param/cutoff", "one argument"))
    assert abs(live.inst.current.sampler.cutoff - 800.0) < 0.01
    assert live.inst.current.sampler.filter_type == s.filter_type and live.inst.current.sampler.polyphony == s.polyphony
    # a choice as text, a whole number from a fader's float, a 32-bit float stored as sent
    live.send("/promptsynth/param/filter_type", "lp24")
    live.send("/promptsynth/param/polyphony", 8.0)
    live.send("/promptsynth/param/tune", 0.1)
    assert live.until(
        lambda: (
            live.inst.current.sampler.filter_type == "lp24"
            and live.inst.current.sampler.polyphony == 8
            and live.inst.current.sampler.tune != s.tune
        )
    )
    assert live.inst.current.sampler.tune == 0.1  # not 0.10000000149011612
    # a fader's stream: every value taken in order, the last one stays
    for hz in range(1000, 1400, 10):
        live.send("/promptsynth/param/cutoff", float(hz))
    assert live.until(lambda: abs(live.inst.current.sampler.cutoff - 1390.0) < 0.01)
    live.run_for(0.5)
    assert abs(live.inst.current.sampler.cutoff - 1390.0) < 0.01
    for key in ("filter_type", "polyphony", "tune", "cutoff"):
        live.inst.set_sound(key, getattr(s, key))


def test_preset_load_plays_a_preset_and_everyone_listening_hears_of_it(live):
    inst = live.inst
    inst.set_sound("cutoff", 3000.0)
    inst.save_preset("OSC warm", overwrite=True)
    assert inst.load_preset(inst.preset("factory", "Init"))
    assert inst.current.name == "Init" and inst.current.sampler.cutoff != 3000.0
    live.send("/promptsynth/status")  # heard: the state's changes come from now on
    assert live.until(lambda: live.inbox.find(PRESET, lambda a: a == ("factory", "Init")))
    live.send("/promptsynth/preset/load", "user", "OSC warm")
    assert live.until(lambda: (inst.current.bank, inst.current.name) == ("user", "OSC warm"))
    assert abs(inst.current.sampler.cutoff - 3000.0) < 0.01
    assert live.until(lambda: live.inbox.find(PRESET, lambda a: a == ("user", "OSC warm")))
    live.send("/promptsynth/preset/load", "factory", "Init pad")  # a factory preset
    assert live.until(lambda: (inst.current.bank, inst.current.name) == ("factory", "Init pad"))
    assert live.until(lambda: live.inbox.find(PRESET, lambda a: a == ("factory", "Init pad")))
    # refused: an unknown preset, the wrong arguments; the preset plays on
    live.send("/promptsynth/preset/load", "user", "No such preset")
    live.send("/promptsynth/preset/load", "user")
    live.send("/promptsynth/preset/load", 1, 2)
    assert live.until(lambda: live.inbox.errors("/promptsynth/preset/load", "No such preset"))
    assert live.until(lambda: len(live.inbox.errors("/promptsynth/preset/load", "bank and the preset's name")) == 2)
    assert (inst.current.bank, inst.current.name) == ("factory", "Init pad")
    assert inst.load_preset(inst.preset("factory", "Init"))


def test_a_note_sounds_in_the_engine_and_velocity_0_releases_it(live, rig):
    inst = live.inst
    assert live.until(lambda: inst.meters().voices == 0)
    live.run_for(0.5)  # the tap's quiet part
    quiet = rig.tap_frames()
    live.send("/promptsynth/status")  # heard: the voices' changes come from now on
    count = inst.meters().note_count
    live.send("/promptsynth/note", 60, 100)
    assert live.until(lambda: inst.meters().note_count > count and inst.meters().voices >= 1)
    assert inst.meters().last_note == 60
    on = rig.tap_frames()
    assert live.until(lambda: rig.tap_frames() > on + RATE // 4)
    x = rig.read_tap()
    assert np.abs(x[quiet - RATE // 8 : quiet]).max() < 1e-3  # silence before the note
    assert np.abs(x[on:]).max() > 0.01  # and the note in the engine's output
    assert live.until(lambda: live.inbox.find(VOICES, lambda a: a[0] >= 1))
    live.send("/promptsynth/note", 60, 0)
    assert live.until(lambda: inst.meters().voices == 0)
    assert live.until(lambda: live.inbox.find(VOICES)[-1:] == [(0,)])
    assert inst.meters().note_count == count + 1  # a release is no note
    # refused: out of range, not a number, a wrong count; no note played
    for args, says in (((200, 100), "key 0-127"), (("C4", 100), "whole number"), ((60,), "two arguments")):
        live.send("/promptsynth/note", *args)
        assert live.until(lambda: live.inbox.errors("/promptsynth/note", says)), (args, live.inbox.all())
    live.run_for(0.3)
    assert inst.meters().note_count == count + 1 and inst.meters().voices == 0


def test_status_answers_with_the_state(live):
    inst = live.inst
    live.inbox.clear()
    live.send("/promptsynth/status")
    want = ("/promptsynth/model", "/promptsynth/queued", "/promptsynth/problems", PRESET, VOICES)
    assert live.until(lambda: all(live.inbox.find(a) for a in want)), live.inbox.all()
    assert live.inbox.find(PRESET)[-1] == (inst.current.bank, inst.current.name)
    assert live.inbox.find(VOICES)[-1] == (inst.meters().voices,)
    assert live.inbox.find("/promptsynth/model") == [("off",)]  # no generator in this daemon
    assert live.inbox.find("/promptsynth/queued") == [(0,)]
    assert live.inbox.find("/promptsynth/problems")[0][0] == len(inst.problems())
    live.send("/promptsynth/status", 1.0)
    assert live.until(lambda: live.inbox.errors("/promptsynth/status", "no arguments"))


def test_generate_without_a_prompt_or_a_generator_is_refused_to_the_sender(live):
    live.send("/promptsynth/generate", "a bell")
    assert live.until(lambda: live.inbox.errors("/promptsynth/generate", "no generator"))
    live.send("/promptsynth/generate", 3.0)
    live.send("/promptsynth/prompt")
    live.send("/promptsynth/cancel", "all")
    assert live.until(lambda: live.inbox.errors("/promptsynth/generate", "the prompt (s)"))
    assert live.until(lambda: live.inbox.errors("/promptsynth/prompt", "the prompt (s)"))
    assert live.until(lambda: live.inbox.errors("/promptsynth/cancel", "job's id"))
    live.send("/promptsynth/cancel")  # nothing to cancel: none
    assert live.until(lambda: (0,) in live.inbox.find("/promptsynth/cancelled"))
    # [osc] reply_port 0: answers go to the port each message came from; prompts are each sender's
    srv, _ = live.server_for(reply_port=0)
    a, b = Peer(), Peer()
    try:
        a.send(srv.port, "/promptsynth/generate")
        assert live.until(lambda: a.errors("/promptsynth/generate", "no prompt"))
        a.send(srv.port, "/promptsynth/prompt", "a bell")
        a.send(srv.port, "/promptsynth/generate")
        assert live.until(lambda: a.errors("/promptsynth/generate", "no generator"))  # past the prompt
        b.send(srv.port, "/promptsynth/generate")
        assert live.until(lambda: b.errors("/promptsynth/generate", "no prompt"))  # not a's prompt
        assert not a.errors("/promptsynth/generate", "no prompt")[1:]  # b's answer went to b
    finally:
        srv.stop()
        a.close()
        b.close()


def test_every_listener_hears_each_jobs_state_and_progress(live):
    """The generator's events (put in its log here: this daemon has no generator) reach every
    sender as /promptsynth/job id state progress, a job that starts and ends between two looks
    included."""
    from promptsynth.generator import protocol as gm

    srv, _ = live.server_for(reply_port=0)
    peers = [Peer(), Peer()]
    try:
        for p in peers:
            p.send(srv.port, "/promptsynth/status")
        assert live.until(lambda: all(any(a == "/promptsynth/model" for a, _ in p.received()) for p in peers))
        live.run_for(0.5)  # heard, and sent the state: from now on its changes

        def jobs(p, job):
            return [args[1:] for a, args in p.received() if a == JOB and args[0] == job]

        live.d.gen.record(gm.Progress(901, 1, 4, 0.1, 0.3))
        assert live.until(lambda: all(jobs(p, 901) for p in peers))
        live.d.gen.record(gm.Progress(901, 3, 4, 0.3, 0.1))
        assert live.until(lambda: all(jobs(p, 901)[-1][0] == "running" and jobs(p, 901)[-1][1] > 0.7 for p in peers))
        live.d.gen.record(gm.Failed(901, "cancelled by the test", "cancelled"))
        live.d.gen.record(gm.Progress(902, 1, 2, 0.1, 0.1))
        live.d.gen.record(gm.Result(902, [], {"prompt": "quick"}))
        assert live.until(lambda: all(jobs(p, 901)[-1:] and jobs(p, 902)[-1:] for p in peers))
        for p in peers:
            states = jobs(p, 901)
            assert states[0][0] == "running" and abs(states[0][1] - 0.25) < 1e-6, states
            assert all(s == "running" for s, _ in states[:-1]) and states[-1][0] == "cancelled", states
            assert [s for s, _ in jobs(p, 902)][-1:] == ["done"] and abs(jobs(p, 902)[-1][1] - 1.0) < 1e-6
        live.run_for(0.5)
        assert all(len(jobs(p, 901)) == len(set(jobs(p, 901))) for p in peers)  # each change once
    finally:
        srv.stop()
        for p in peers:
            p.close()


def test_a_sender_not_allowed_changes_nothing_and_is_logged_once(live, caplog):
    inst = live.inst
    other = Inbox()
    srv, bridge = live.server_for(allow=("10.1.2.3", "192.168.0.0/16"), reply_port=other.port)
    try:
        cutoff, notes, preset = inst.current.sampler.cutoff, inst.meters().note_count, inst.current.name
        client = udp_client.SimpleUDPClient("127.0.0.1", srv.port)
        with caplog.at_level(logging.INFO, logger="osc"):
            for _ in range(2):
                client.send_message("/promptsynth/param/cutoff", 500.0)
                client.send_message("/promptsynth/note", [60, 100])
                client.send_message("/promptsynth/preset/load", ["user", "OSC warm"])
                client.send_message("/promptsynth/status", [])
            assert live.until(lambda: srv.ignored == 8)
            live.run_for(0.5)
        assert bridge.calls == 0 and srv.received == 0 and other.all() == []
        assert inst.current.sampler.cutoff == cutoff and inst.current.name == preset
        assert inst.meters().note_count == notes and inst.meters().voices == 0
        said = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
        assert said == ["OSC from 127.0.0.1 ignored: not in [osc] allow"]
    finally:
        srv.stop()
        other.close()


def test_garbage_and_odd_messages_leave_the_server_working(live):
    inst = live.inst
    port = live.server.port
    peer = Peer()
    cutoff = inst.current.sampler.cutoff
    try:
        msg = OscMessageBuilder("/promptsynth/param/cutoff")
        msg.add_arg(700.0)
        whole = msg.build().dgram
        malformed = live.server.malformed
        for junk in (
            b"",  # (these two are not even OSC's shape: python-osc drops them unread)
            b"\xff" * 100,
            # what the parser refuses (python-osc reads a float cut short as if padded: not here)
            b"/promptsynth/param/cutoff",  # no padding, no type tags
            b"/promptsynth/note\x00\x00\x00,ii\x00" + b"\x00\x00\x00\x3c",  # one int of two
            b"#bundle\x00\x00\x00",  # a bundle cut short
            b"#bundle\x00" + b"\x00" * 8 + b"\xff\xff\xff\xff" + whole,  # an element longer than the packet
            b"#bundle\x00" + b"\x00" * 8 + b"\x00\x00\x00\x03" + whole,  # one cut short
            b"/" + bytes(range(256)) * 4,  # not UTF-8: python-osc raises UnicodeDecodeError, not ParseError
        ):
            peer.send_raw(port, junk)
        assert live.until(lambda: live.server.malformed - malformed == 6)
        peer.send_raw(port, b"/promptsynth/note\x00\x00\x00,zz\x00" + b"\x00" * 8)  # types OSC has not: no arguments
        b = OscMessageBuilder("/promptsynth/param/cutoff")
        b.add_arg(b"\x01\x02", "b")  # a blob
        peer.send_raw(port, b.build().dgram)
        peer.send(port, "/promptsynth/*", 1.0)  # a pattern: not every command at once
        peer.send(port, "/promptsynth/param/*", 1.0)
        peer.send(port, "/some/other/layout", 1.0)  # not ours: ignored
        assert live.until(lambda: live.inbox.errors("/promptsynth/note", "two arguments"))
        assert live.until(lambda: live.inbox.errors("/promptsynth/param/cutoff", "must be a number"))
        assert live.until(lambda: live.inbox.errors("/promptsynth/*", "unknown address"))
        assert live.until(lambda: live.inbox.errors("/promptsynth/param/*", "unknown key"))
        assert inst.current.sampler.cutoff == cutoff
        # a bundle stamped an hour ahead is obeyed now (the stock dispatcher would sleep an hour)
        bundle = OscBundleBuilder(time.time() + 3600)
        m = OscMessageBuilder("/promptsynth/param/cutoff")
        m.add_arg(1500.0)
        bundle.add_content(m.build())
        peer.send_raw(port, bundle.build().dgram)
        assert live.until(lambda: abs(inst.current.sampler.cutoff - 1500.0) < 0.01)
        # and the next plain message works
        live.send("/promptsynth/param/cutoff", 2500.0)
        assert live.until(lambda: abs(inst.current.sampler.cutoff - 2500.0) < 0.01)
        assert live.server.errors == 0  # nothing of the server's own failed
    finally:
        peer.close()
        inst.set_sound("cutoff", cutoff)


def test_binding_failures_name_host_and_port_and_stop_is_safe(live):
    taken = live.server.port
    for host, port in (("127.0.0.1", taken), ("256.1.2.3", 0)):
        srv = OscServer(OscConfig(host=host, port=port), Bridge(), live.inst, JobBoard(live.inst))
        with pytest.raises(OSError, match="%s:%d" % (host.replace(".", r"\."), port)):
            srv.start()
        assert srv.port == 0
        srv.stop()  # never started: nothing to stop
    with pytest.raises(config.ConfigError, match="not an IP address"):
        OscServer(OscConfig(allow=("the stage tablet",)), Bridge(), live.inst, JobBoard(live.inst))
    # the server that holds the port is untouched
    live.send("/promptsynth/param/cutoff", 1234.0)
    assert live.until(lambda: abs(live.inst.current.sampler.cutoff - 1234.0) < 0.01)
    live.inst.set_sound("cutoff", 20000.0)


def test_changes_go_to_the_16_senders_heard_from_last_for_10_minutes(live):
    clock = [1000.0]
    bridge = Bridge()
    live.bridges.append(bridge)
    srv = OscServer(OscConfig(host="127.0.0.1", port=0), bridge, live.inst, JobBoard(live.inst), clock=lambda: clock[0])
    peers = [Peer() for _ in range(MAX_SENDERS + 1)]
    try:
        srv.start()
        for i, p in enumerate(peers):
            clock[0] += 1.0
            p.send(srv.port, "/promptsynth/prompt", "sender %d" % i)
            # (waited for without running the loop: the state is not sent before all are heard)
            assert wait_for(lambda: srv.received == i + 1, WAIT_S)
        assert srv.subscribers() == [("127.0.0.1", p.sock.getsockname()[1]) for p in peers[1:]]
        # each listener is sent the state first; the one that made way, nothing
        assert live.until(lambda: all(any(a == PRESET for a, _ in p.received()) for p in peers[1:]))
        assert peers[0].received() == []
        # ten minutes later nobody is listening: the state is no longer looked at
        clock[0] += SENDER_TTL_S + 1.0
        assert srv.subscribers() == []
        live.run_for(1.0)
        calls = bridge.calls
        live.run_for(1.0)
        assert bridge.calls == calls
    finally:
        srv.stop()
        for p in peers:
            p.close()


def test_the_daemon_starts_osc_only_when_the_config_says_and_steers_through_its_loop(rig, tmp_path):
    """[osc] enabled: the daemon itself starts the server (health "osc" ok), and its own loop runs
    what arrives; off (the default), nothing listens."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    base = config.replace(rig.config("tap_jack"), "paths", state=str(tmp_path / "state"))
    off = Daemon(config.replace(base, "osc", port=port, host="127.0.0.1"), rig.env)
    off.network.start()
    assert off.network.osc is None and "osc" not in off.health.parts
    d = Daemon(config.replace(base, "osc", enabled=True, port=port, host="127.0.0.1"), rig.env)
    try:
        d.start(generator=False)
        assert d.network.osc is not None and d.health.parts["osc"].state == "ok"
        assert d.health.parts["osc"].detail == "udp 127.0.0.1:%d" % port
        udp_client.SimpleUDPClient("127.0.0.1", port).send_message("/promptsynth/param/cutoff", [750.0])
        assert step_until(d, lambda: d.inst.current.sampler.cutoff == 750.0, WAIT_S)
    finally:
        d.stop()
    assert d.network.osc is None
