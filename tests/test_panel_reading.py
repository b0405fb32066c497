"""A panel that reads at a glance: the font's grid, values written for their unit, lists that
show where they are, messages that wrap, encoder acceleration and fine mode, the queue and
Esc, and every README key through the simulator window's real key path (pygame events)."""

import logging

import numpy as np
import pytest
from PIL import Image, ImageDraw

from promptsynth import config
from promptsynth.config import GenerateConfig, SoundSettings, bounds
from promptsynth.daemon.run import Daemon
from promptsynth.generator import protocol as gm
from promptsynth.panel import fmt
from promptsynth.panel.display import Display, factory
from promptsynth.panel.encoder import FAST_DETENTS, Dial, Speed
from promptsynth.panel.events import Key, Press, Turn
from promptsynth.panel.font import CELL_W, FONT
from promptsynth.panel.pages import filter as filter_page
from promptsynth.panel.pages import fx, gensettings, rows, sound
from promptsynth.panel.pages.base import text, wrap
from promptsynth.panel.panel import Panel


@pytest.fixture
def panel(tmp_path):
    t = [100.0]
    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    inst = Daemon(cfg, clock=lambda: t[0]).inst
    p = Panel(inst, Display(factory("dummy")), clock=lambda: t[0])
    p.now = t
    return p


def px(panel):
    return np.array(panel.render(), dtype=np.uint8)


def drawn(s, x=0, y=0, fill=1, bg=0):
    """The pixels ``s`` makes, drawn alone with the panel's text() on a 128x64 screen."""
    img = Image.new("1", (128, 64), bg)
    text(ImageDraw.Draw(img), x, y, s, fill=fill)
    return np.array(img, dtype=np.uint8)


def shows(screen, s, x, y, inverted=False):
    """Whether ``screen`` has exactly the text ``s`` in the cells at (x, y)."""
    want = drawn(s, x, y, fill=0 if inverted else 1, bg=1 if inverted else 0)
    w = CELL_W * len(s)
    return np.array_equal(screen[y + 1 : y + 10, x : x + w], want[y + 1 : y + 10, x : x + w])


# ---- the font ---------------------------------------------------------------------------------
def test_every_character_is_one_six_pixel_cell():
    for c in range(32, 256):
        if 127 <= c < 160:
            continue
        img = Image.new("1", (30, 12), 0)
        ImageDraw.Draw(img).text((6, 0), chr(c) * 2, font=FONT, fill=1)
        cols = np.nonzero(np.array(img, dtype=np.uint8).any(axis=0))[0]
        assert not len(cols) or (cols.min() >= 6 and cols.max() < 18), "%r spills out of its cells" % chr(c)
    line = "x" * 21  # 21 characters fill a line and the last one is whole
    a = drawn(line)
    assert a[:, 120:126].any() and not a[:, 126:].any()


def test_cursor_sits_under_its_character(panel):
    for ch in "a warm analog pad":
        panel.handle(Key(char=ch))
    for _ in range(3):
        panel.handle(Key(name="left"))  # the cursor on the 'p' of "pad" (index 14)
    screen = px(panel)
    assert screen[21, 14 * 6 : 14 * 6 + 6].all() and not screen[21, 13 * 6 : 14 * 6].any()
    assert not screen[21, 15 * 6 :].any()
    assert shows(screen, "a warm analog pad", 0, 11)


def test_flags_and_title_are_never_clipped(panel):
    panel.set_page("settings")
    panel.inst.gen.record(gm.Queued(1, 0))
    panel.inst.gen.record(gm.Progress(1, 10, 25, 1.0, 2.0))
    panel.inst.queued = lambda: 12
    panel.refresh(panel.clock())
    assert panel.flags() == "GEN 40% +12"
    screen = px(panel)
    flags = "GEN 40% +12"
    assert shows(screen, flags, 128 - 6 * len(flags), 0, inverted=True)
    assert shows(screen, "SETTINGS", 1, 0, inverted=True)  # the title makes room, whole words first


# ---- values for their unit --------------------------------------------------------------------
def test_units_are_written_as_a_musician_reads_them():
    assert [fmt.ms(v) for v in (2.0, 2.5, 950.0, 999.0, 1000.0, 1300.0, 1350.0, 12500.0, 20000.0)] == [
        "2 ms", "2.5 ms", "950 ms", "999 ms", "1 s", "1.3 s", "1.35 s", "12.5 s", "20 s"
    ]  # fmt: skip
    assert fmt.seconds(0.95) == "950 ms" and fmt.seconds(5.12) == "5.12 s"
    assert [fmt.db(v) for v in (-6.0, 12.0, 0.0, -0.04)] == ["-6.0 dB", "+12.0 dB", "0.0 dB", "0.0 dB"]
    assert [fmt.cents(v) for v in (12.0, -0.0, -0.4, -5.0)] == ["+12 c", "0 c", "0 c", "-5 c"]
    assert [fmt.note(n) for n in (60, 72, 0, 61, 127)] == ["C4", "C5", "C-1", "C#4", "G9"]
    assert fmt.level(0.7) == "70 %" and fmt.percent(100.0) == "100 %" and fmt.hz(5.5) == "5.5 Hz"
    for f in (fmt.ms, fmt.seconds, fmt.db, fmt.cents, fmt.note, fmt.percent, fmt.level, fmt.hz, fmt.count):
        assert f(None) == fmt.MISSING  # never "None"


def test_sound_page_rows_show_units(panel):
    panel.set_page("sound")
    s = panel.pages["sound"]
    for key, value in (("attack", 1000.0), ("tune", -0.0), ("gain", 12.0), ("root", 72)):
        panel.inst.set_sound(key, value)
    expect = {"attack": "1 s", "tune": "0 c", "gain": "+12.0 dB", "root": "C5", "release": "300 ms"}
    for i, p in enumerate(sound.PARAMS):
        if p.key not in expect:
            continue
        s.sel = i
        screen = px(panel)
        row = "%-*s %s" % (19 - len(expect[p.key]) - 1, p.label, expect[p.key])
        first = max(i - sound.ROWS_SHOWN + 1, 0)
        y = sound.ROWS_TOP + (i - first) * 10
        assert shows(screen, row, 1, y, inverted=True), p.key


def test_play_page_writes_root_as_a_note_and_never_none(panel):
    panel.refresh(panel.clock())
    panel.model.root, panel.model.tune = 72, -0.0
    assert shows(px(panel), "root C5 0 c", 0, 41)
    panel.model.root = None
    panel.model.preset = ""
    assert shows(px(panel), "root -- 0 c", 0, 41)


def test_settings_page_rows(panel):
    panel.set_page("settings")
    screen = px(panel)
    assert shows(screen, "%-13s %s" % ("length", "5.12 s"), 1, 42)


# ---- lists and messages -----------------------------------------------------------------------
def test_sound_page_scrolls_through_every_row_and_shows_where(panel):
    panel.set_page("sound")
    seen = set()
    for i in range(len(sound.PARAMS)):
        assert panel.pages["sound"].sel == i
        screen = px(panel)
        assert shows(screen, "SOUND %d/%d" % (i + 1, len(sound.PARAMS)), 1, 0, inverted=True)
        seen.add(sound.PARAMS[i].key)
        thumb = np.nonzero(screen[sound.ROWS_TOP : 64, 126])[0]
        if i == 0:
            assert thumb.min() == 0  # the scroll bar's thumb at the top ...
        if i == len(sound.PARAMS) - 1:
            assert thumb.max() == sound.ROWS_SHOWN * 10 - 1  # ... and at the bottom
        panel.handle(Key(name="down"))
    assert len(seen) == len(sound.PARAMS)


def test_long_messages_wrap_and_scroll(panel):
    msg = "the prompt is empty: type what the sound should be first"
    lines = wrap(msg)
    assert lines == ["the prompt is empty:", "type what the sound", "should be first"]
    panel.flash(msg)
    screen = px(panel)
    for i, line in enumerate(lines):
        assert shows(screen, line, 1, 64 - 3 * 10 + i * 10, inverted=True)
    longer = " ".join(["word%d" % i for i in range(20)])
    panel.flash(longer)
    n = len(wrap(longer))
    assert n > 3
    first = px(panel)
    panel.now[0] += 1.5 * (n - 3)  # it scrolled to the last line
    assert shows(px(panel), wrap(longer)[-1], 1, 64 - 10, inverted=True) and not np.array_equal(first, px(panel))


def test_hints_and_errors_look_different(panel):
    panel.flash("hold to save", kind="hint")
    hint = px(panel)
    assert shows(hint, "hold to save", 1, 54) and panel.flags() != "ERR"
    panel.flash("disk full", kind="error")
    error = px(panel)
    assert shows(error, "disk full", 1, 54, inverted=True) and panel.flags() == "ERR"


def test_a_cancel_is_logged_as_info_not_error(panel, caplog):
    with caplog.at_level(logging.INFO, logger="generation"):
        panel.inst.gen.record(gm.Failed(3, "cancelled by you", "cancelled"))
        panel.inst.gen.record(gm.Failed(4, "out of memory", "error"))
    levels = {r.getMessage().split()[1]: r.levelno for r in caplog.records}
    assert levels == {"3": logging.INFO, "4": logging.ERROR}


# ---- encoder acceleration and fine mode -------------------------------------------------------
def dials():
    for p in sound.PARAMS + filter_page.PARAMS + fx.PARAMS:  # every page of sound settings
        if p.step is not None:
            yield p.key, rows.dial(p, 4.0)
    for k, (step, quantum) in gensettings.STEP.items():
        lo, hi = bounds(GenerateConfig, k)
        yield k, Dial(lo, hi, step, quantum)


@pytest.mark.parametrize("key,dial", list(dials()))
def test_one_fast_turn_crosses_any_range(key, dial):
    speed, t = Speed(), 0.0
    v = dial.lo
    for _i in range(FAST_DETENTS + 6):  # one turn and a bit, 10 ms a detent
        t += 0.01
        v = dial.turn(v, 1, speed.feed(1, t))
    assert v == dial.hi, key
    for _ in range(FAST_DETENTS + 6):
        t += 0.01
        v = dial.turn(v, -1, speed.feed(-1, t))
    assert v == dial.lo, key


def test_slow_turns_are_fine_and_fine_mode_finer():
    attack = rows.dial(sound.PARAMS[8], None)
    assert sound.PARAMS[8].key == "attack"
    assert 990 <= attack.turn(950.0, 1) <= 1010  # slow: about 5 % a detent at 950 ms
    assert attack.turn(2.0, 1) == 3.0  # and never less than a millisecond
    assert 954.0 <= attack.turn(950.0, 1, fine=True) <= 956.0  # fine: a tenth of that (0.5 %)
    gain = rows.dial(sound.PARAMS[12], None)
    assert gain.turn(-6.0, 1) == -5.5 and gain.turn(-6.0, 1, fine=True) == -5.9
    assert gain.turn(-6.0, 1, speed=1.0, fine=True) == -5.9  # fine ignores speed
    speed = Speed()
    assert [speed.feed(1, t) for t in (0.0, 0.2, 0.21)] == [0.0, 0.0, 1.0]
    assert speed.feed(-1, 0.22) == 0.0  # a change of direction starts slow


def test_panel_accelerates_from_turn_times(panel):
    panel.set_page("sound")
    panel.pages["sound"].sel = 8  # attack, 2 ms
    t = 50.0
    for _ in range(30):
        t += 0.01
        panel.handle(Turn(1, 1, t))
    assert panel.inst.current.sampler.attack == bounds(SoundSettings, "attack")[1]
    slow = [panel.inst.current.sampler.attack]
    for _ in range(3):
        t += 0.3
        panel.handle(Turn(1, -1, t))
        slow.append(panel.inst.current.sampler.attack)
    assert all(0.93 < b / a < 0.97 for a, b in zip(slow, slow[1:]))  # slowly: ~5 % a detent
    before = panel.inst.current.sampler.attack
    panel.handle(Turn(1, -1, t + 0.01, fine=True))
    assert 0.99 < panel.inst.current.sampler.attack / before < 1.0


# ---- queue, progress, Esc ---------------------------------------------------------------------
class Jobs:
    """The instrument's job API as a recording stand-in (no generator process in these tests)."""

    def __init__(self, panel):
        self.inst, self.cancels, self.waiting = panel.inst, [], []
        panel.inst.cancel = self.cancel
        panel.inst.queued = lambda: len(self.waiting)

    def submit(self, *ids):
        for i in ids:
            self.inst.gen.record(gm.Queued(i, len(self.waiting)))
            self.waiting.append(i)
        self.waiting.pop(0)  # the first runs at once

    def cancel(self, job=None):
        self.cancels.append(job)
        return 1


def test_top_bar_shows_the_running_job_and_the_queue(panel):
    jobs = Jobs(panel)
    jobs.submit(1, 2, 3, 4, 5)
    panel.inst.gen.record(gm.Progress(1, 10, 25, 2.0, 3.0))
    panel.refresh(panel.clock())
    assert panel.flags() == "GEN 40% +4" and panel.model.running == 1
    panel.set_page("generate")
    assert shows(px(panel), "step 10/25", 0, 12) and shows(px(panel), "4 waiting", 128 - 54, 22)
    panel.inst.gen.record(gm.Result(1, [], {"seed": 9}))
    jobs.waiting.pop(0)
    panel.refresh(panel.clock())
    assert panel.flags() == "GEN 0% +3" and panel.model.running == 2  # the next one, not a stale 40 %


def test_esc_cancels_the_running_job_then_the_queue(panel):
    jobs = Jobs(panel)
    jobs.submit(1, 2, 3, 4, 5)
    panel.refresh(panel.clock())
    panel.handle(Key(name="esc"))
    assert jobs.cancels == [1]  # the running job only
    assert panel.model.message_kind == "info" and "Esc again" in panel.model.message
    panel.now[0] += 1.0
    panel.handle(Key(name="esc"))  # again within 2 s: everything
    assert jobs.cancels == [1, None]
    # later, a single Esc cancels only the running one again
    panel.now[0] += 5.0
    panel.handle(Key(name="esc"))
    assert jobs.cancels == [1, None, 1]
    panel.inst.gen.record(gm.Failed(1, "cancelled by you", "cancelled"))
    panel.refresh(panel.clock())
    assert panel.model.error == "" and panel.flags() != "ERR"  # a cancel asked for is no error


def test_esc_in_a_library_dialog_closes_it_and_cancels_nothing(panel):
    jobs = Jobs(panel)
    jobs.submit(1)
    panel.refresh(panel.clock())
    panel.set_page("library")
    lib = panel.pages["library"]
    lib.sel = len(panel.presets())
    panel.handle(Press(1, "short"))
    assert lib.mode == "save"
    panel.handle(Key(name="esc"))
    assert lib.mode == "" and jobs.cancels == []


def test_a_preset_generated_on_load_shows_progress(panel):
    """The instrument submits the job (Instrument.load_preset), not the panel: still followed."""
    assert panel.job is None
    panel.inst.gen.record(gm.Queued(31, 0))
    panel.inst.gen.record(gm.Progress(31, 5, 25, 3.0, 12.0))
    panel.refresh(panel.clock())
    assert panel.flags() == "GEN 20%"
    panel.set_page("generate")
    assert shows(px(panel), "step 5/25", 0, 12)


# ---- the simulator window, through pygame's real key path --------------------------------------
@pytest.fixture
def window(monkeypatch, panel):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pg = pytest.importorskip("pygame")
    from promptsynth.panel.window import Window

    w = Window(scale=1, clock=lambda: panel.now[0])
    pg.event.clear()

    def press(key, mod=0, unicode=""):
        pg.event.post(pg.event.Event(pg.KEYDOWN, key=key, mod=mod, unicode=unicode, scancode=0))
        for ev in w.events():
            panel.handle(ev)

    w.press = press
    yield w
    w.close()


def test_window_keys_pages_and_typing(window, panel):
    pg = window.pg
    window.press(pg.K_F5)
    assert panel.page == "sound"
    window.press(pg.K_a, unicode="a")
    window.press(pg.K_b, unicode="b")
    assert panel.page == "prompt" and panel.prompt.text == "ab"
    window.press(pg.K_HOME)
    window.press(pg.K_DELETE)
    window.press(pg.K_END)
    window.press(pg.K_BACKSPACE)
    assert panel.prompt.text == ""
    window.press(pg.K_TAB)  # Tab turns the select encoder: the next page
    assert panel.page == "generate"
    window.press(pg.K_TAB, mod=pg.KMOD_LSHIFT)
    assert panel.page == "prompt"
    window.press(pg.K_RETURN)  # Enter generates: an empty prompt is refused, and says so
    assert panel.model.message


def test_window_shift_insert_goes_home_and_ctrl_insert_is_the_value_button(window, panel):
    pg = window.pg
    window.press(pg.K_F5)
    window.press(pg.K_INSERT)  # encoder 1's press: the next row
    assert panel.pages["sound"].sel == 1
    window.press(pg.K_INSERT, mod=pg.KMOD_LCTRL | pg.KMOD_LSHIFT)  # encoder 2's long press: learn
    assert panel.cc.learning == "end" and panel.page == "sound"
    window.press(pg.K_INSERT, mod=pg.KMOD_LSHIFT)  # encoder 1's long press: home
    assert panel.page == "play"


def test_window_page_keys_turn_the_value_encoder_with_fine_mode(window, panel):
    pg = window.pg
    window.press(pg.K_F5)
    panel.pages["sound"].sel = 12  # gain, -6 dB
    window.press(pg.K_PAGEUP)
    assert panel.inst.current.sampler.gain == -5.5
    panel.now[0] += 1.0
    window.press(pg.K_PAGEDOWN, mod=pg.KMOD_LSHIFT)  # fine
    assert panel.inst.current.sampler.gain == -5.6
    for _ in range(30):  # key repeat: a fast spin
        panel.now[0] += 0.03
        window.press(pg.K_PAGEUP)
    assert panel.inst.current.sampler.gain == 12.0


def test_window_tab_renames_a_user_preset_in_the_library(window, panel):
    pg = window.pg
    panel.inst.save_preset("Mine")
    window.press(pg.K_F8)
    lib = panel.pages["library"]
    lib.sel = [p.name for p in panel.presets()].index("Mine")
    window.press(pg.K_TAB)
    assert lib.mode == "rename" and panel.page == "library"
    for ch in "2":
        window.press(pg.K_2, unicode=ch)
    window.press(pg.K_RETURN)
    assert "Mine2" in [p.name for p in panel.presets()]
    lib.sel = 0  # a factory preset: Tab is the select encoder again
    window.press(pg.K_TAB)
    assert panel.page == "kit"  # the page after the library


def test_window_esc_cancels(window, panel):
    jobs = Jobs(panel)
    jobs.submit(1, 2)
    panel.refresh(panel.clock())
    window.press(window.pg.K_ESCAPE)
    window.press(window.pg.K_ESCAPE)
    assert jobs.cancels == [1, None]


def test_usb_keyboard_tab_and_page_keys_turn_the_encoders(panel):
    from evdev import InputEvent, ecodes

    from promptsynth.panel.keyboard import KeyDecoder

    dec = KeyDecoder()
    keys = [
        dec.feed(InputEvent(0, 0, ecodes.EV_KEY, code, value))
        for code, value in (
            (ecodes.KEY_TAB, 1),
            (ecodes.KEY_LEFTSHIFT, 1),
            (ecodes.KEY_TAB, 1),
            (ecodes.KEY_LEFTSHIFT, 0),
            (ecodes.KEY_PAGEUP, 1),
        )
    ]
    keys = [k for k in keys if k is not None]
    assert keys == [Key(name="tab"), Key(name="backtab"), Key(name="pageup")]
    panel.handle(keys[0])
    assert panel.page == "prompt"
    panel.handle(keys[1])
    assert panel.page == "play"
    panel.set_page("sound")
    panel.pages["sound"].sel = 12  # gain
    panel.handle(keys[2])
    assert panel.inst.current.sampler.gain == -5.5


# ---- the Library: nothing replaced without a yes, a missing sound marked --------------------
def _save_as(panel, name):
    panel.set_page("library")
    lib = panel.pages["library"]
    lib.sel = len(panel.presets())  # the "+ save current as..." row
    panel.handle(Key(name="enter"))
    assert lib.mode == "save"
    for _ in range(64):
        panel.handle(Key(name="backspace"))
    for ch in name:
        panel.handle(Key(char=ch))
    panel.handle(Key(name="enter"))
    return lib


def _preset_file(panel, name):
    return panel.inst.store.file_of("user", name)


def test_saving_under_a_taken_name_asks_and_replaces_only_on_yes(panel):
    panel.inst.set_sound("gain", -6.0)
    lib = _save_as(panel, "Mine")
    assert lib.mode == "" and _preset_file(panel, "Mine") is not None
    before = open(_preset_file(panel, "Mine"), "rb").read()
    panel.inst.set_sound("gain", -12.0)
    lib = _save_as(panel, "Mine")
    assert lib.mode == "overwrite" and lib.target == ("user", "Mine")
    assert shows(px(panel), "replace the preset", 0, 12)
    assert open(_preset_file(panel, "Mine"), "rb").read() == before  # asked, nothing written
    panel.handle(Key(name="esc"))  # no: back to the name
    assert lib.mode == "save" and panel.inst.preset("user", "Mine").sampler.gain == -6.0
    panel.handle(Key(name="enter"))  # the same name again: asked again
    assert lib.mode == "overwrite"
    panel.handle(Key(name="enter"))  # yes
    assert lib.mode == "" and panel.inst.preset("user", "Mine").sampler.gain == -12.0
    assert [p.name for p in panel.presets()].count("Mine") == 1


def test_a_preset_whose_sound_is_gone_is_marked_in_the_list(panel):
    import dataclasses

    inst = panel.inst
    tone = np.zeros((4800, 2), dtype=np.float32) + 0.1
    sid = inst.library.add(tone, 48000, {"prompt": "a test tone"}, name="tone")
    p = inst.presets()[0]
    inst.store.save(dataclasses.replace(p, bank="user", name="Tone", sound=sid))
    inst.store.save(dataclasses.replace(p, bank="user", name="Kept", sound=sid))
    rows = {q.name: q for q in inst.presets()}
    assert not rows["Tone"].missing_sound
    inst.library.delete(sid)
    panel._presets = None  # (the panel re-reads the list every 2 s)
    rows = {q.name: q for q in panel.presets()}
    assert rows["Tone"].missing_sound and rows["Kept"].missing_sound
    assert not any(q.missing_sound for q in panel.presets() if q.bank == "factory")
    panel.set_page("library")
    sel = panel.pages["library"].sel = [q.name for q in panel.presets()].index("Tone")
    y = 12 + 10 * min(sel, 4)  # the selected row (five shown, scrolled to keep it in view)
    assert shows(px(panel), "!Tone", 1, y, inverted=True)


def test_the_simulator_says_it_generates_with_its_tiny_model_only(tmp_path):
    t = [100.0]
    cfg = config.replace(config.Config(), "paths", state=str(tmp_path / "state"))
    inst = Daemon(cfg, model_override="tiny", clock=lambda: t[0]).inst
    p = Panel(inst, Display(factory("dummy")), clock=lambda: t[0])
    p.set_page("settings")
    assert inst.gen_settings.model == "tiny"
    p.pages["settings"].sel = 0  # the model row
    p.handle(Turn(1, 1))
    assert inst.gen_settings.model == "tiny"  # not shown as chosen while tiny generates
    assert p.model.message_kind == "error" and "generates with tiny only" in p.model.message


def test_fx_page_says_the_midi_clocks_tempo_when_the_delay_is_synced(panel):
    from promptsynth.engine.stats import INDEX
    from promptsynth.panel.pages.base import row

    panel.set_page("fx")
    keys = [p.key for p in fx.PARAMS]
    while panel.pages["fx"].sel != keys.index("delay_sync"):
        panel.handle(Press(0, "short"))
    panel.handle(Turn(1, 2))  # off -> 1/2 -> 1/4.
    assert panel.inst.current.sampler.delay_sync == "1/4."

    def shown(value):  # the selected row (inverted), wherever the list has scrolled it
        screen = px(panel)
        return any(shows(screen, row("sync", value, cols=19), 1, y, True) for y in range(fx.ROWS_TOP, 64 - 9))

    panel.refresh(panel.clock())
    assert shown("1/4. no clk")  # no clock: the delay uses its time in ms
    panel.inst.host.stats.values[INDEX["clock_bpm"]] = 120.0
    panel.refresh(panel.clock())
    assert shown("1/4. 120bpm")
