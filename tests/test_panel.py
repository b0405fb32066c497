"""The front panel: pixels of every page, exact bytes through the real OLED drivers, encoders,
buttons, the keyboard, a failing I2C bus, and a scripted session through the menus."""

import numpy as np
import pytest
from evdev import InputEvent, ecodes

from conftest import step_until
from promptsynth import config
from promptsynth.daemon.run import Daemon
from promptsynth.engine.stats import INDEX
from promptsynth.generator import protocol as gm
from promptsynth.panel.display import Display, RecordingSerial, factory
from promptsynth.panel.encoder import Button, QuadratureDecoder, quadrature_edges
from promptsynth.panel.events import Key, Press, Turn
from promptsynth.panel.gpio import Controls, jetson
from promptsynth.panel.keyboard import KeyDecoder
from promptsynth.panel.panel import Panel
from promptsynth.panel.textedit import TextBuffer


def instrument(tmp_path, clock=None):
    """An instrument whose engine is not started: the pages need none to draw."""
    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    return Daemon(cfg, clock=clock or (lambda: 100.0)).inst


@pytest.fixture
def panel(tmp_path):
    t = [100.0]
    p = Panel(instrument(tmp_path, lambda: t[0]), Display(factory("dummy")), clock=lambda: t[0])
    p.now = t
    return p


def stats(panel):
    return panel.inst.host.stats.values


def pixels(panel):
    return np.array(panel.render(), dtype=np.uint8)


def test_every_page_draws_its_status_bar_and_title(panel):
    for name in panel.order:
        panel.set_page(name)
        panel.refresh(panel.clock())
        px = pixels(panel)
        assert px.shape == (64, 128)
        bar = px[0:10, :]
        assert bar.mean() > 0.6  # inverted bar with dark title text
        assert px[12:, :].sum() > 0  # and the page drew something


def test_play_page_level_meter_follows_the_peak(panel):
    stats(panel)[INDEX["peak"]] = 0.5
    panel.refresh(panel.clock())
    px = pixels(panel)
    row = px[59]
    assert row[2 : 2 + 62].all() and not row[2 + 63 : 126].any()  # 0.5 of 124 px


def test_prompt_page_shows_text_and_cursor(panel):
    panel.handle(Key(char="h"))  # typing anywhere goes to the prompt page
    for ch in "ello":
        panel.handle(Key(char=ch))
    assert panel.page == "prompt" and panel.prompt.text == "hello"
    px = pixels(panel)
    assert px[21, 30:36].all()  # the cursor underline after 5 characters
    panel.handle(Key(name="home"))
    px = pixels(panel)
    assert px[21, 0:6].all() and not px[21, 30:36].all()


def test_generate_page_progress_bar_and_status_flag(panel):
    panel.set_page("generate")
    panel.job = 7
    panel.inst.gen.record(gm.Queued(7, 0))
    panel.inst.gen.record(gm.Progress(7, 12, 25, 1.0, 2.0))
    panel.refresh(panel.clock())
    px = pixels(panel)
    fill = int(round(124 * 12 / 25))
    assert px[39, 2 : 2 + fill].all() and not px[39, 2 + fill : 126].any()
    assert panel.flags() == "GEN 48%"
    panel.inst.gen.record(gm.Failed(7, "the model ran out of memory", "error"))
    panel.refresh(panel.clock())
    assert panel.flags() == "ERR" and panel.model.progress is None and panel.model.running is None
    assert pixels(panel)[54:64, :].mean() > 0.5  # the error line is shown over the page, inverted


def test_settings_page_selection_and_values(panel):
    panel.set_page("settings")
    px = pixels(panel)
    assert px[12:21, :].mean() > 0.5  # the selected row is inverted
    steps = panel.gen.steps
    panel.handle(Press(0, "short"))  # next row: steps
    panel.handle(Turn(1, 3))
    assert panel.gen.steps == steps + 3
    assert pixels(panel)[22:31, :].mean() > 0.5


def test_sound_page_waveform_and_loop_markers(panel):
    panel.set_page("sound")
    for key, value in (("loop_mode", "forward"), ("loop_start", 1.0), ("loop_end", 2.0)):
        panel.inst.set_sound(key, value)
    panel.refresh(panel.clock())
    px = pixels(panel)
    wave = px[11:33, :]
    assert wave.sum(axis=0).min() > 0  # every column of the init sound has signal
    n = len(panel.inst.current_audio())
    x = int(1.0 * 48000 / n * 127)
    assert panel.model.markers["loop_start"] == x
    assert px[11:33:2, x].all()  # a dotted loop marker


def test_library_page_lists_factory_presets(panel):
    panel.set_page("library")
    px = pixels(panel)
    assert px[12:21, :].mean() > 0.5
    assert len(panel.presets()) >= 34


def decode_frame(data):
    """1024 bytes of SSD1306/SH1106 page data back into a 64x128 bitmap (LSB is the top row)."""
    got = np.zeros((64, 128), np.uint8)
    for i, byte in enumerate(data):
        page, x = divmod(i, 128)
        for bit in range(8):
            got[page * 8 + bit, x] = (byte >> bit) & 1
    return got


def test_ssd1306_and_sh1106_frames_decode_to_the_image(panel):
    panel.set_page("play")
    stats(panel)[:] = 0
    img = panel.render()
    want = np.array(img, dtype=np.uint8)
    for kind in ("ssd1306", "sh1106"):
        ser = RecordingSerial()
        dev = factory(kind, serial=ser)()
        ser.log.clear()
        dev.display(img)
        data = ser.frame_bytes()
        assert len(data) == 1024
        np.testing.assert_array_equal(decode_frame(data), want, err_msg=kind)
        if kind == "sh1106":  # page and column address per page, column offset 2
            cmds = [c for k, c in ser.log if k == "cmd"]
            assert any(c[:1] == bytes([0xB0]) for c in cmds) and any(0x02 in c for c in cmds)


def test_failing_i2c_is_retried_and_drawing_recovers(panel):
    ser = RecordingSerial(fail_every=53)  # now and then (init alone is ~25 transfers)
    panel.display = Display(factory("ssd1306", serial=ser))
    t = 0.0
    for i in range(200):
        t += 0.05
        panel.now[0] = t
        stats(panel)[INDEX["peak"]] = (i % 10) / 10.0  # the meter moves: frames differ
        panel.tick(t)
    assert panel.display.errors >= 3 and panel.display.frames > 20  # failed, and kept drawing
    # the last frame sent is whole and is the panel's last image
    ser2 = RecordingSerial()
    panel.display = Display(factory("ssd1306", serial=ser2))
    panel.last_image = None
    panel.tick(t + 1)
    data = ser2.frame_bytes()  # the driver's init clears the screen, then our frame
    assert len(data) == 2048
    np.testing.assert_array_equal(decode_frame(data[-1024:]), np.array(panel.render(), dtype=np.uint8))


def test_encoder_edges_with_bounce_count_exactly():
    dec = QuadratureDecoder()
    total = 0
    for a, b in quadrature_edges(5):
        total += dec.edge(a, b)
    assert total == 5
    # bounce: every transition chatters back and forth twice before settling
    dec = QuadratureDecoder()
    state = (1, 1)
    total = 0
    for new in quadrature_edges(-7):
        for level in (new, state, new, state, new):
            total += dec.edge(*level)
        state = new
    assert total == -7
    # an impossible jump (a missed edge) counts nothing and is noted
    dec = QuadratureDecoder()
    assert dec.edge(0, 0) == 0 and dec.invalid == 1


def test_buttons_debounce_short_and_long():
    b = Button()
    ev = []
    for t, lvl in ((0.000, 0), (0.002, 1), (0.004, 0)):  # bouncy press
        b.level(lvl, t)
        ev += b.poll(t)
    ev += b.poll(0.03)
    b.level(1, 0.2)
    ev += b.poll(0.25)
    assert ev == ["short"]
    b.level(0, 1.0)
    ev = b.poll(1.05) + b.poll(1.7)
    b.level(1, 2.0)
    ev += b.poll(2.1)
    assert ev == ["long"]  # a long press does not also send a short


def test_jetson_gpio_backend_with_a_fake_module(monkeypatch):
    class FakeGPIO:
        BOARD, IN, BOTH = "board", "in", "both"

        def __init__(self):
            self.cb, self.lv = {}, {}

        def setmode(self, m):
            self.mode = m

        def setup(self, pin, d):
            self.lv[pin] = 1

        def add_event_detect(self, pin, edge, callback):
            self.cb[pin] = callback

        def input(self, pin):
            return self.lv[pin]

        def set(self, pin, v):
            self.lv[pin] = v
            self.cb[pin](pin)

    import promptsynth.panel.gpio as gpio_mod

    t = [10.0]
    monkeypatch.setattr(gpio_mod.time, "monotonic", lambda: t[0])  # the edges' own time stamps
    g = FakeGPIO()
    c = Controls([(29, 31), (33, 35)], [37, 38])
    jetson(c, gpio=g)
    assert g.mode == "board" and set(g.cb) == {29, 31, 33, 35, 37, 38}
    for a, b in quadrature_edges(3):
        if g.lv[33] != a:
            g.set(33, a)
        if g.lv[35] != b:
            g.set(35, b)
    g.set(37, 0)
    t[0] += 0.05  # held 50 ms: a short press after the debounce
    g.set(37, 1)
    events = c.events(t[0] + 0.05)
    turns = [e for e in events if e[0] == "turn"]
    assert turns[0] == ("turn", 1, 1, 10.0, False) and sum(e[2] for e in turns) == 3  # time-stamped, not fine
    assert ("press", 0, "short") in events
    # holding encoder 2's button while turning it: fine steps, and the press is no press
    g.set(38, 0)
    t[0] += 0.05
    for a, b in quadrature_edges(2, start=(g.lv[33], g.lv[35])):
        if g.lv[33] != a:
            g.set(33, a)
        if g.lv[35] != b:
            g.set(35, b)
    t[0] += 1.0  # held past a long press, then let go
    g.set(38, 1)
    events = c.events(t[0] + 0.05)
    assert [e[4] for e in events if e[0] == "turn"] == [True, True]
    assert not [e for e in events if e[0] == "press"]


def key_events(text):
    shifted = {"!": "KEY_1", '"': "KEY_APOSTROPHE", "?": "KEY_SLASH"}
    out = []
    for ch in text:
        if ch.isupper() or ch in shifted:
            out.append(InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 1))
            code = getattr(ecodes, shifted.get(ch, "KEY_" + ch.upper()))
            out += [
                InputEvent(0, 0, ecodes.EV_KEY, code, 1),
                InputEvent(0, 0, ecodes.EV_KEY, code, 0),
                InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_LEFTSHIFT, 0),
            ]
        else:
            name = {" ": "KEY_SPACE", ",": "KEY_COMMA", "'": "KEY_APOSTROPHE"}.get(ch, "KEY_" + ch.upper())
            code = getattr(ecodes, name)
            out += [
                InputEvent(0, 0, ecodes.EV_KEY, code, 1),
                InputEvent(0, 0, ecodes.EV_SYN, 0, 0),
                InputEvent(0, 0, ecodes.EV_KEY, code, 0),
            ]
    return out


def test_evdev_events_edit_text():
    dec = KeyDecoder()
    buf = TextBuffer()

    def play(events):
        for ev in events:
            k = dec.feed(ev)
            if k is None:
                continue
            if k.char:
                buf.insert(k.char)
            else:
                getattr(buf, k.name)()

    play(key_events('Dark pad, "warm"!'))
    assert buf.text == 'Dark pad, "warm"!'
    ev = lambda code, v=1: InputEvent(0, 0, ecodes.EV_KEY, code, v)  # noqa: E731
    play(
        [
            ev(ecodes.KEY_BACKSPACE),
            ev(ecodes.KEY_HOME),
            ev(ecodes.KEY_DELETE),
            ev(ecodes.KEY_END),
            ev(ecodes.KEY_LEFT),
            ev(ecodes.KEY_BACKSPACE, 2),
        ]
    )  # auto-repeat types too
    assert buf.text == 'ark pad, "warm"'[:-2] + '"'
    assert dec.feed(ev(ecodes.KEY_ENTER)) == Key(name="enter")


def test_text_buffer_limits_and_control_characters():
    b = TextBuffer(limit=5)
    b.insert("ab\x00c\x1bdefg")
    assert b.text == "abcde" and b.refused == 4
    long = TextBuffer("x" * 100, limit=1000)
    vis, cur = long.window(21)
    assert len(vis) == 20 and cur == 20  # the cursor stays visible at the end, in the last cell


@pytest.mark.torch
def test_scripted_session_type_generate_loop_save_reload(rig, tmp_path):
    cfg = rig.config("tap_jack")
    cfg = config.replace(cfg, "paths", state=str(tmp_path / "state"))
    cfg = config.replace(cfg, "generate", seconds=2.0, steps=4)
    cfg = config.replace(cfg, "model", id="tiny", device="cpu", threads=1)
    d = Daemon(cfg, rig.env, model_override="tiny")
    try:
        d.start()
        p, inst = d.front.panel, d.inst
        for ch in "a warm organ":
            p.handle(Key(char=ch))
        # (generous bounds: the daemon's worker runs at nice 10, a tenth of a core on a busy machine)
        assert step_until(d, lambda: inst.model_state() == "ready", 400)
        p.handle(Key(name="enter"))
        assert p.page == "generate" and p.job is not None
        assert step_until(d, lambda: p.job is None, 400)
        assert p.model.error == "", p.model.error
        sid = inst.current.sound
        assert sid and sid != "init" and inst.current.generation["prompt"] == "a warm organ"
        # Sound page: loop mode forward, loop start later by 0.2 s
        p.handle(Key(name="f5"))
        for _ in range(2):
            p.handle(Press(0, "short"))  # rows: start, end, loop_mode
        modes = ["auto", "off", "forward", "pingpong"]
        for _ in range(4):
            if inst.current.sampler.loop_mode == "forward":
                break
            before_mode = inst.current.sampler.loop_mode
            p.handle(Turn(1, 1))
            assert inst.current.sampler.loop_mode == modes[(modes.index(before_mode) + 1) % 4]
        assert inst.current.sampler.loop_mode == "forward"
        p.handle(Press(0, "short"))  # loop_start
        before = inst.current.sampler.loop_start
        sound_before = d.host.stats["sound_id"]
        p.handle(Turn(1, 20))
        # the dial lands on its 1 ms grid: the analysed loop start need not lie on it
        want = round((before + 0.2) * 1000) / 1000
        assert abs(inst.current.sampler.loop_start - want) < 1e-6
        assert step_until(d, lambda: d.host.stats["sound_id"] != sound_before, 10)  # the new loop reached the engine
        # Library: save as "Organ one"
        p.handle(Key(name="f8"))
        p.pages["library"].sel = len(p.presets())  # the "save current as" row
        p.handle(Press(0, "short"))
        p.name.clear()
        for ch in "Organ one":
            p.handle(Key(char=ch))
        p.handle(Key(name="enter"))
        path = tmp_path / "state" / "presets" / "user" / "Organ_one.json"
        assert path.exists()
        import json

        saved = json.loads(path.read_text())
        assert saved["sound"] == sid and saved["sampler"]["loop_mode"] == "forward"
        assert abs(saved["sampler"]["loop_start"] - want) < 1e-6
    finally:
        d.stop()
    # reload: the state on disk is exactly that sound and loop
    from promptsynth.library.presets import PresetStore

    state, problem = PresetStore(str(tmp_path / "state")).load_state()
    assert problem is None and state.sound == sid and state.sampler.loop_mode == "forward"


def test_cc_learn_binds_a_knob_to_a_sound_parameter(panel, tmp_path):
    v = stats(panel)
    panel.set_page("sound")
    for _ in range(8):  # the 'attack' row
        panel.handle(Press(0, "short"))
    panel.handle(Press(1, "long"))  # the value encoder's long press (the select's goes home)
    assert panel.cc.learning == "attack"
    v[INDEX["cc_number"]], v[INDEX["cc_value"]], v[INDEX["cc_count"]] = 74, 10, 1
    panel.refresh(panel.clock())
    assert panel.cc.map == {74: "attack"} and panel.cc.learning is None
    v[INDEX["cc_value"]], v[INDEX["cc_count"]] = 127, 2
    panel.refresh(panel.clock())
    assert panel.inst.current.sampler.attack == 20000.0  # the top of [sampler] attack's range
    v[INDEX["cc_value"]], v[INDEX["cc_count"]] = 0, 3
    panel.refresh(panel.clock())
    assert panel.inst.current.sampler.attack == 0.0
    # the map survives a restart
    p2 = Panel(panel.inst, Display(None))
    assert p2.cc.map == {74: "attack"}


def test_unused_controllers_reach_the_cc_learn_callback():
    from promptsynth.engine.midi import CONTROL, apply_to_sampler

    class S:
        def mod_wheel(self, v):
            self.mod = v

        def set_brightness(self, v):
            self.bright = v

    seen = []
    s = S()
    h = apply_to_sampler(s, lambda n, val: seen.append((n, val)))
    h(CONTROL, 20, 99)
    h(CONTROL, 1, 64)  # the mod wheel is the sampler's, not learnable
    h(CONTROL, 74, 127)  # brightness: the filter's cutoff, by the usual convention
    assert seen == [(20, 99)] and s.bright == 1.0


def test_kiosk_idle_timeout_returns_to_the_attract_preset(tmp_path):
    t = [0.0]
    inst = instrument(tmp_path, lambda: t[0])
    p = Panel(
        inst,
        Display(None),
        kiosk=True,
        prompt_limit=20,
        idle_timeout=60.0,
        attract="factory/Init pad",
        clock=lambda: t[0],
    )
    for ch in "a very long prompt that goes on\x00\x1b":
        p.handle(Key(char=ch))
    assert p.prompt.text == "a very long prompt t" and p.prompt.refused > 0
    p.set_page("sound")
    t[0] = 59.0
    p.refresh(t[0])
    assert inst.current.name == "Init"
    t[0] = 61.0
    p.refresh(t[0])
    assert inst.current.name == "Init pad" and inst.current.sampler.attack == 400.0 and p.page == "play"


def test_simulator_window_shows_frames_headless(monkeypatch, panel):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from promptsynth.panel.window import Window

    w = Window(scale=2)
    try:
        assert w.show(panel.render(), 0.0)
        surf = w.pg.display.get_surface()
        assert surf.get_size() == (256, 128)
        assert surf.get_at((1, 2))[:3] == (255, 255, 255)  # the status bar, scaled
        assert w.events() == []
    finally:
        w.close()


def test_rows_pages_take_arrow_keys(panel):
    panel.set_page("settings")
    guidance = panel.gen.guidance
    panel.handle(Key(name="down"))
    panel.handle(Key(name="down"))  # the guidance row
    panel.handle(Key(name="right"))
    assert panel.gen.guidance == guidance + 0.5
    panel.handle(Key(name="up"))
    panel.handle(Key(name="up"))
    panel.handle(Key(name="up"))  # wraps to the last row
    assert panel.pages["settings"].sel == panel.pages["settings"].rows - 1
