"""Kiosk mode: a scripted visitor presses every key and every encoder gesture on every row of
every page, and the state directory proves that only the allowed actions changed anything; the
operator's unlock (PIN, both buttons held) and its timeout; the idle return restoring the
attract preset completely; and a panel outside kiosk mode (or unlocked) that still allows
everything. Times come from an explicit clock, never the wall clock."""

import dataclasses
import hashlib
import json
import logging
import os

import numpy as np
import pytest

from promptsynth import config
from promptsynth.config import SoundSettings
from promptsynth.daemon.generation import GenSettings
from promptsynth.daemon.run import Daemon
from promptsynth.engine.stats import INDEX
from promptsynth.library.presets import Preset
from promptsynth.panel.display import Display
from promptsynth.panel.encoder import Button
from promptsynth.panel.events import Key, Press, Turn
from promptsynth.panel.gpio import Controls
from promptsynth.panel.keyboard import NAMED, US
from promptsynth.panel.kiosk import ACTIONS, HOLD_PAIR_S, PIN_PAUSE_S, PIN_TRIES, VISITOR_SOUND_KEYS, KioskLock
from promptsynth.panel.pages.sound import PARAMS
from promptsynth.panel.panel import Panel

PIN = "2468"
ATTRACT = "factory/Init pad"
# what the instrument derives from a sound when it loads (pitch analysis, the sound's own loop)
DERIVED = {"root", "tune", "loop_mode", "loop_start", "loop_end", "crossfade"}

EVERY_KEY = [Key(name=n) for n in sorted(set(NAMED.values()))] + [
    Key(char=c) for c in sorted({ch for pair in US.values() for ch in pair})
]
EVERY_GESTURE = [Turn(e, d) for e in (0, 1) for d in (-5, -1, 1, 5)] + [
    Press(b, k) for b in (0, 1) for k in ("short", "long", "hold")
]
# the keys and gestures that arm or confirm something somewhere: tried in every pair
RISKY = [
    Key(name="delete"),
    Key(name="enter"),
    Key(name="tab"),
    Key(name="esc"),
    Key(name="backspace"),
    Key(char="x"),
    Press(0, "short"),
    Press(0, "long"),
    Press(1, "long"),
    Turn(1, 1),
]


class Clock:
    def __init__(self, t=1000.0):
        self.t = t

    def __call__(self):
        return self.t


class FakeJobs:
    """The generator's side of the instrument: jobs are recorded (with the settings they would
    run with) and never run, so generating is an allowed action that writes nothing."""

    def __init__(self, gen):
        self.gen, self.submitted, self.cancelled = gen, [], []
        gen.submit = self.submit
        gen.cancel = self.cancel

    def submit(self, prompt, **overrides):
        self.submitted.append((prompt, overrides, self.gen.settings))
        return len(self.submitted)

    def cancel(self, job=None):
        self.cancelled.append(job)
        return 1


def spy(inst, calls):
    """Record every call of the instrument's changing methods as (method, first argument)."""
    for name in ("set_sound", "set_generation", "save_preset", "rename_preset", "delete_preset", "load_preset"):
        original = getattr(inst, name)

        def wrapped(*args, _original=original, _name=name, **kw):
            calls.append((_name, args[0] if args else None))
            return _original(*args, **kw)

        setattr(inst, name, wrapped)


def make_instrument(root, clock):
    cfg = config.replace(config.Config(), "paths", state=str(root))
    return Daemon(cfg, clock=clock).inst


def furnish(inst):
    """A lived-in state directory: a sound in the library, user presets using it and the init
    sound, a MIDI map, the last state."""
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(24000) / 48000)).astype(np.float32)
    meta = {"rate": 48000, "analysis": {"pitch": {"pitched": True, "note": 69, "cents": 0.0}}}
    sid = inst.library.add(audio, 48000, meta, name="visitor sine")
    assert inst.load_preset(Preset(name="Sine", sound=sid, sampler=dataclasses.replace(SoundSettings(), gain=-3.0)))
    inst.save_preset("Sine pad")
    inst.load_preset(inst.preset("factory", "Init"))
    inst.save_preset("My init")
    with open(os.path.join(inst.store.dir, "..", "ccmap.json"), "w") as fh:
        json.dump({"74": "gain"}, fh)
    inst.save_state()


def snapshot(root):
    """Every folder and file under ``root`` with its content's hash."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirs:
            out[os.path.join(rel, d) + "/"] = "folder"
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                out[os.path.normpath(os.path.join(rel, f))] = hashlib.sha256(fh.read()).hexdigest()
    return out


def diff(before, after):
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def kiosk_panel(inst, clock, **kw):
    args = dict(kiosk=True, prompt_limit=50, idle_timeout=0.0, attract=ATTRACT, clock=clock, kiosk_pin=PIN)
    args.update(kw)
    return Panel(inst, Display(None), **args)


@pytest.fixture
def kiosk(tmp_path):
    clock = Clock()
    inst = make_instrument(tmp_path / "state", clock)
    furnish(inst)
    jobs = FakeJobs(inst.gen)
    p = kiosk_panel(inst, clock)
    return p, inst, jobs, clock


def rows_of(p, name):
    page = p.pages[name]
    if name == "library":
        return range(len(p.presets()) + 1)
    if name == "system":
        p.refresh(p.clock())
        return range(max(len(p.model.system), 1))
    return range(getattr(page, "rows", 1))


def test_a_visitor_pressing_everything_changes_nothing_but_what_is_allowed(kiosk, tmp_path, caplog):
    p, inst, jobs, clock = kiosk
    caplog.set_level(logging.INFO)
    state = tmp_path / "state"
    before = snapshot(state)
    calls = []
    spy(inst, calls)
    gen_before = inst.gen_settings
    lib = p.pages["library"]

    def go(page, row):
        p.set_page(page)
        if hasattr(p.pages[page], "sel"):
            p.pages[page].sel = row

    def press(ev):
        clock.t += 1.5  # a visitor's pace: two holds never come within HOLD_PAIR_S of each other
        p.handle(ev)
        p.refresh(clock.t)
        assert p.lock.locked, ev
        assert lib.mode == "" and lib.target is None, (ev, lib.mode)  # nothing ever armed
        assert p.cc.learning is None, ev
        assert inst.gen_settings == gen_before, ev
        assert len(p.prompt.text) <= 50

    events = 0
    for page in list(p.order):
        for row in rows_of(p, page):
            for ev in EVERY_KEY + EVERY_GESTURE:
                go(page, row)
                press(ev)
                events += 1
    # pairs of the keys that arm or confirm, on the rows where they could matter, then Enter
    # and a press (the reported "Delete, then Enter" among them)
    n_presets = len(p.presets())
    for page in list(p.order):
        rows = [0, n_presets - 2, n_presets - 1, n_presets] if page == "library" else [0, 3]
        for row in rows:
            for a in RISKY:
                for b in RISKY:
                    go(page, row)
                    for ev in (a, b, Key(name="enter"), Press(0, "short")):
                        press(ev)
                        events += 1
    assert events > 10000

    # nothing on disk changed but the last state (loading presets, the envelope) ...
    changed = diff(before, snapshot(state))
    assert changed in ([], ["state.json"]), changed
    # ... and that state is a preset as loaded, with at most the envelope changed
    with open(state / "state.json") as fh:
        cur = Preset.from_json(json.load(fh)["current"])
    ref = make_instrument(tmp_path / "ref", clock)
    src = inst.store.get(cur.bank, cur.name) if cur.name != "Init" else inst.preset("factory", "Init")
    ref.library = inst.library  # read only: the same sounds
    assert ref.load_preset(src, generate=False)
    for f in dataclasses.fields(SoundSettings):
        if f.name not in VISITOR_SOUND_KEYS:
            assert getattr(cur.sampler, f.name) == getattr(ref.current.sampler, f.name), f.name
    assert cur.sampler == inst.current.sampler

    # the instrument was asked for the allowed actions only, and they did happen
    methods = {m for m, _ in calls}
    assert methods <= {"set_sound", "load_preset"}, methods
    assert {k for m, k in calls if m == "set_sound"} == VISITOR_SOUND_KEYS
    assert "load_preset" in methods
    assert jobs.submitted and all(s == gen_before and not o for _, o, s in jobs.submitted)
    assert jobs.cancelled
    # every refusal was logged for the operator at INFO, none as an error
    refused = {r.getMessage().split(":")[1].split()[1] for r in caplog.records if "kiosk: refused" in r.getMessage()}
    assert refused == {a for a, (visitor, _, _) in ACTIONS.items() if not visitor}
    assert all(r.levelno == logging.INFO for r in caplog.records if "kiosk: refused" in r.getMessage())
    assert not [r for r in caplog.records if r.name in ("kiosk", "panel") and r.levelno >= logging.ERROR]


def test_the_reported_delete_then_enter_and_delete_on_save_row(kiosk, tmp_path, caplog):
    p, inst, _jobs, _clock = kiosk
    caplog.set_level(logging.INFO)
    user = tmp_path / "state" / "presets" / "user"
    files = sorted(os.listdir(user))
    assert files == ["My_init.json", "Sine_pad.json"]
    p.set_page("library")
    lib = p.pages["library"]
    names = [x.name for x in p.presets()]
    lib.sel = names.index("Sine pad")
    p.handle(Key(name="delete"))
    assert lib.mode == "" and p.model.message == "kiosk: no deleting"
    p.handle(Key(name="enter"))  # loads it (allowed), deletes nothing
    assert inst.current.name == "Sine pad"
    lib.sel = len(names)  # "+ save current as..."
    p.handle(Key(name="delete"))
    p.handle(Key(name="enter"))
    for ch in "mine":
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert sorted(os.listdir(user)) == files
    assert "mine" in p.prompt.text  # typing went to the prompt, not to a preset name
    msgs = [r.getMessage() for r in caplog.records if r.name == "kiosk"]
    assert any("refused delete" in m and "Sine pad" in m for m in msgs)
    assert any("refused save" in m for m in msgs)


def test_settings_and_sound_pages_in_kiosk(kiosk):
    p, inst, _jobs, _clock = kiosk
    g = inst.gen_settings
    p.set_page("settings")
    for row in range(p.pages["settings"].rows):
        p.pages["settings"].sel = row
        p.handle(Turn(1, 50))
        p.handle(Press(1, "long"))
    assert inst.gen_settings == g and p.model.message == "kiosk: no settings"
    p.set_page("sound")
    s = inst.current.sampler
    rows = [row[0] for row in PARAMS]
    for i, _key in enumerate(rows):
        p.pages["sound"].sel = i
        p.handle(Turn(1, -3))
    after = inst.current.sampler
    for f in dataclasses.fields(SoundSettings):
        moved = getattr(after, f.name) != getattr(s, f.name)
        assert moved == (f.name in VISITOR_SOUND_KEYS and f.name in rows), f.name
    # the envelope moved down, within the schema's range
    assert 0.0 <= after.attack < s.attack and 0.0 <= after.sustain < s.sustain
    p.handle(Press(1, "long"))  # MIDI learn
    assert p.cc.learning is None and p.model.message == "kiosk: no MIDI learn"


def test_pin_unlocks_without_reaching_the_prompt_and_times_out(kiosk, caplog):
    p, inst, _jobs, clock = kiosk
    caplog.set_level(logging.INFO)
    for ch in "pad":
        p.handle(Key(char=ch))
    p.handle(Key(name="f10"))
    assert p.model.message == "staff: PIN + Enter"
    for ch in PIN:
        p.handle(Key(char=ch))
    assert p.model.message == "PIN ****" and p.lock.locked
    p.handle(Key(name="enter"))
    assert not p.lock.locked and p.model.message == "kiosk unlocked"
    assert p.prompt.text == "pad"  # the PIN went nowhere near the prompt
    assert any(r.levelno == logging.WARNING and "unlocked" in r.getMessage() for r in caplog.records)
    # unlocked: a delete works; input keeps it unlocked
    p.set_page("library")
    for _ in range(3):
        clock.t += 100.0
        p.handle(Key(name="down"))
        p.refresh(clock.t)
    assert not p.lock.locked
    clock.t += 120.0
    p.refresh(clock.t)
    assert not p.lock.locked  # exactly the timeout: not yet
    clock.t += 0.5
    p.refresh(clock.t)
    assert p.lock.locked
    assert any("locked again (120 s without input)" in r.getMessage() for r in caplog.records)


def test_enter_on_the_system_page_locks_again(kiosk):
    p, _inst, _jobs, _clock = kiosk
    p.lock.unlock("test")
    p.handle(Key(name="f10"))
    assert p.model.message == "Enter: lock kiosk"
    p.handle(Key(name="enter"))
    assert p.lock.locked


def test_wrong_pins_pause_pin_entry(kiosk):
    p, _inst, _jobs, clock = kiosk
    p.set_page("system")
    for _attempt in range(PIN_TRIES):
        for ch in "1111":
            p.handle(Key(char=ch))
        p.handle(Key(name="enter"))
    assert p.model.message == "PIN paused %d s" % PIN_PAUSE_S
    for ch in PIN:  # the right PIN during the pause does not unlock
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert p.lock.locked
    clock.t += PIN_PAUSE_S
    for ch in PIN:
        p.handle(Key(char=ch))
    p.handle(Key(name="backspace"))
    p.handle(Key(char=PIN[-1]))
    p.handle(Key(name="enter"))
    assert not p.lock.locked
    # a PIN half typed is forgotten when the page is left
    p.lock.lock("test")
    p.set_page("system")
    for ch in PIN[:2]:
        p.handle(Key(char=ch))
    p.set_page("play")
    p.set_page("system")
    for ch in PIN[2:]:
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert p.lock.locked


def test_no_pin_means_typing_on_the_system_page_goes_to_the_prompt(tmp_path):
    clock = Clock()
    p = kiosk_panel(make_instrument(tmp_path / "state", clock), clock, kiosk_pin="")
    p.set_page("system")
    for ch in "1234":
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert p.prompt.text == "1234" and p.lock.locked


def test_holding_both_buttons_unlocks_and_locks(kiosk):
    p, _inst, _jobs, clock = kiosk
    p.handle(Press(0, "hold"))
    clock.t += HOLD_PAIR_S + 0.1
    p.handle(Press(1, "hold"))  # not together: nothing
    assert p.lock.locked
    clock.t += 0.3
    p.handle(Press(0, "hold"))
    assert not p.lock.locked and p.model.message == "kiosk unlocked"
    clock.t += 10.0
    p.handle(Press(1, "hold"))
    p.handle(Press(0, "hold"))
    assert p.lock.locked
    # outside kiosk mode a hold means nothing
    plain = Panel(p.inst, Display(None), clock=clock)
    plain.handle(Press(0, "hold"))
    plain.handle(Press(1, "hold"))
    assert not plain.lock.locked and not plain.lock.unlocked


def test_buttons_send_hold_after_hold_s():
    b = Button(hold_s=8.0)
    b.level(0, 0.0)
    ev = b.poll(0.03) + b.poll(1.0) + b.poll(7.9)
    assert ev == ["long"]
    ev = b.poll(8.1) + b.poll(9.0)
    b.level(1, 10.0)
    ev += b.poll(10.1)
    assert ev == ["hold"]
    assert Button().poll(100.0) == []
    c = Controls([], [37, 38], hold_s=5.0)
    c.edge(37, 0, 0.0)
    c.edge(38, 0, 0.1)
    assert c.events(0.15) == []  # (the panel's loop polls about 50 times a second)
    got = c.events(5.2)
    assert ("press", 0, "hold") in got and ("press", 1, "hold") in got


def visitor_mess(p, inst, clock):
    """The operator unlocks and a visitor (or the operator) changes everything there is."""
    p.lock.unlock("test")
    inst.load_preset(inst.store.get("user", "Sine pad"))
    for f in dataclasses.fields(SoundSettings):
        lo, hi = config.bounds(SoundSettings, f.name)
        opts = config.choices(SoundSettings, f.name)
        value = opts[-1] if opts else (hi if f.name not in ("start", "end") else 0.1)
        p.set_sampler(f.name, int(value) if f.type in ("int", int) else value)
    p.set_sampler("gain", -30.0)
    for key, value in (("steps", 200), ("seconds", 30.0), ("guidance", 9.0), ("candidates", 4), ("scheduler", "ddim")):
        p.set_gen(key, value)
    p.set_gen("model", "tiny")
    p.set_gen("seed", 1234)
    p.set_gen("negative", "")
    for ch in "a thunderstorm":
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert p.job is not None
    p.set_page("library")
    lib = p.pages["library"]
    lib.sel = [x.name for x in p.presets()].index("My init")
    p.handle(Key(name="delete"))
    assert lib.mode == "confirm"
    lib.mode = "rename"  # as if a name were being typed too
    p.cc.learning = "gain"
    p.spelling = True
    assert inst.current.sampler.gain == -30.0


def test_idle_return_restores_the_attract_preset_completely(kiosk, tmp_path):
    p, inst, jobs, clock = kiosk
    p.idle_timeout = 300.0
    visitor_mess(p, inst, clock)
    cfg = inst.cfg
    assert inst.gen_settings != inst.gen_defaults
    clock.t += 299.0
    p.refresh(clock.t)
    assert inst.current.name == "Sine pad"  # not idle yet
    clock.t += 2.0
    p.refresh(clock.t)
    # the sound: exactly what loading the attract preset on a fresh instrument gives ...
    ref = make_instrument(tmp_path / "ref", clock)
    bank, _, name = ATTRACT.partition("/")
    assert ref.load_preset(ref.preset(bank, name), generate=False)
    cur = inst.current
    assert (cur.bank, cur.name, cur.sound) == (bank, name, "init")
    assert cur.sampler == ref.current.sampler
    # ... which is the preset's own keys, and the schema's defaults for every key it leaves out
    with open(os.path.join(os.path.dirname(config.__file__), "data", "factory_bank.json")) as fh:
        stated = next(x for x in json.load(fh)["presets"] if x["name"] == name)["sampler"]
    defaults = SoundSettings()
    for f in dataclasses.fields(SoundSettings):
        want = stated[f.name] if f.name in stated else getattr(defaults, f.name)
        if f.name not in DERIVED:
            assert getattr(cur.sampler, f.name) == want, f.name
    assert cur.sampler.gain == -6.0
    # generation settings as configured
    g = cfg.generate
    assert inst.gen_settings == GenSettings(
        model=cfg.model.id,
        negative=g.negative,
        seconds=g.seconds,
        steps=g.steps,
        guidance=g.guidance,
        scheduler=g.scheduler,
        candidates=g.candidates,
        seed=None,
    )
    # the panel as a new visitor should find it
    assert jobs.cancelled[-1] is None  # every job, queued and running
    assert p.prompt.text == "" and p.name.text == "" and not p.spelling
    assert p.page == "play" and p.job is None and p.cc.learning is None
    assert p.pages["library"].mode == "" and p.pages["library"].target is None
    assert all(getattr(pg, "sel", 0) == 0 for pg in p.pages.values())
    assert p.lock.locked
    # and on disk: the state is the attract preset
    with open(tmp_path / "state" / "state.json") as fh:
        saved = Preset.from_json(json.load(fh)["current"])
    assert saved.sampler == ref.current.sampler and saved.name == name


def test_idle_return_fills_a_user_attract_preset_that_states_few_keys(tmp_path):
    clock = Clock()
    inst = make_instrument(tmp_path / "state", clock)
    FakeJobs(inst.gen)
    folder = tmp_path / "state" / "presets" / "lobby"
    folder.mkdir(parents=True)
    (folder / "Lobby.json").write_text(
        json.dumps({"schema": 1, "name": "Lobby", "sound": "init", "sampler": {"attack": 50.0, "loop_mode": "off"}})
    )
    p = kiosk_panel(inst, clock, idle_timeout=60.0, attract="lobby/Lobby")
    inst.set_sound("gain", -30.0)
    inst.set_sound("decay", 5000.0)
    clock.t += 61.0
    p.refresh(clock.t)
    s = inst.current.sampler
    assert inst.current.name == "Lobby"
    want = dataclasses.replace(SoundSettings(), attack=50.0, loop_mode="off")
    for f in dataclasses.fields(SoundSettings):
        if f.name not in ("root", "tune"):  # from the init sound's pitch
            assert getattr(s, f.name) == getattr(want, f.name), f.name


def test_idle_return_to_a_missing_attract_preset_still_clears_the_visitor(tmp_path):
    clock = Clock()
    inst = make_instrument(tmp_path / "state", clock)
    FakeJobs(inst.gen)
    p = kiosk_panel(inst, clock, idle_timeout=60.0, attract="user/Gone")
    inst.set_sound("gain", -30.0)
    p.handle(Key(char="x"))
    clock.t += 61.0
    p.refresh(clock.t)
    assert inst.current.name == "Init" and inst.current.sampler.gain == inst.cfg.sampler.gain
    assert p.prompt.text == "" and "Gone" in p.model.message


@pytest.mark.parametrize("how", ["not a kiosk", "unlocked kiosk"])
def test_outside_kiosk_mode_or_unlocked_everything_is_allowed(tmp_path, how, caplog):
    caplog.set_level(logging.INFO)
    clock = Clock()
    inst = make_instrument(tmp_path / "state", clock)
    furnish(inst)
    FakeJobs(inst.gen)
    if how == "not a kiosk":
        p = Panel(inst, Display(None), clock=clock)
    else:
        p = kiosk_panel(inst, clock)
        p.lock.unlock("test")
    assert all(p.lock.allows(a) for a in ACTIONS)
    user = tmp_path / "state" / "presets" / "user"
    lib = p.pages["library"]
    # Delete, then Enter: deleted
    p.set_page("library")
    lib.sel = [x.name for x in p.presets()].index("My init")
    p.handle(Key(name="delete"))
    assert lib.mode == "confirm"
    p.handle(Key(name="enter"))
    assert sorted(os.listdir(user)) == ["Sine_pad.json"]
    # save as, from the last row (a short press opens the name)
    lib.sel = len(p.presets())
    p.handle(Press(0, "short"))
    assert lib.mode == "save"
    p.name.clear()
    for ch in "Aaa":
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert sorted(os.listdir(user)) == ["Aaa.json", "Sine_pad.json"]
    # rename with Tab
    lib.sel = [x.name for x in p.presets()].index("Aaa")
    p.handle(Key(name="tab"))
    p.handle(Key(name="backspace"))
    p.handle(Key(char="b"))
    p.handle(Key(name="enter"))
    assert sorted(os.listdir(user)) == ["Aab.json", "Sine_pad.json"]
    assert p.presets()[lib.sel].name == "Aab"  # the selection follows the renamed preset
    # settings, sound, MIDI learn
    p.set_gen("steps", 200)
    p.set_sampler("gain", 12.0)
    p.learn("gain")
    assert inst.gen_settings.steps == 200 and inst.current.sampler.gain == 12.0 and p.cc.learning == "gain"
    assert not [r for r in caplog.records if "refused" in r.getMessage()]


def library_page(tmp_path):
    """A panel (not a kiosk) on the Library page of a furnished instrument; and that page."""
    clock = Clock()
    inst = make_instrument(tmp_path / "state", clock)
    furnish(inst)
    p = Panel(inst, Display(None), clock=clock)
    p.set_page("library")
    return p, p.pages["library"]


def test_a_delete_confirm_does_not_outlive_the_page(tmp_path):
    p, lib = library_page(tmp_path)
    lib.sel = [x.name for x in p.presets()].index("Sine pad")
    p.handle(Key(name="delete"))
    assert lib.mode == "confirm"
    p.handle(Turn(0, 1))  # to the next page, and back
    p.handle(Turn(0, -1))
    assert p.page == "library" and lib.mode == ""
    p.handle(Key(name="enter"))  # loads; deletes nothing
    p.handle(Press(0, "short"))
    assert (tmp_path / "state" / "presets" / "user" / "Sine_pad.json").exists()
    p.handle(Key(name="delete"))
    p.handle(Key(char="q"))  # typing goes to the prompt page: the confirm is gone
    p.set_page("library")
    p.handle(Key(name="enter"))
    assert (tmp_path / "state" / "presets" / "user" / "Sine_pad.json").exists()


def test_the_selection_stays_put_after_a_save(tmp_path):
    p, lib = library_page(tmp_path)
    lib.sel = len(p.presets())  # "+ save current as..."
    p.handle(Key(name="enter"))
    p.name.clear()
    for ch in "Zzz":  # sorts last: the row that was "save" now holds a preset
        p.handle(Key(char=ch))
    p.handle(Key(name="enter"))
    assert (tmp_path / "state" / "presets" / "user" / "Zzz.json").exists()
    assert lib.sel == len(p.presets())  # still the "save" row
    p.handle(Key(name="delete"))  # so Delete targets nothing
    p.handle(Key(name="enter"))
    assert len(os.listdir(tmp_path / "state" / "presets" / "user")) == 3


def test_bound_knobs_still_work_in_a_locked_kiosk(kiosk):
    p, inst, _jobs, _clock = kiosk
    v = inst.host.stats.values
    v[INDEX["cc_number"]], v[INDEX["cc_value"]], v[INDEX["cc_count"]] = 74, 127, 1
    p.refresh(p.clock())
    assert inst.current.sampler.gain == 12.0  # the operator bound CC 74 to gain: theirs to give


def test_the_policy_table_is_complete():
    lock = KioskLock(True)
    for action, (visitor, hint, about) in ACTIONS.items():
        assert lock.allows(action) == visitor
        assert about and (visitor or 0 < len(hint) <= 21)
    with pytest.raises(KeyError):
        lock.allows("format the disk")


def test_a_locked_kiosk_offers_no_save_row_and_an_unlocked_one_does(kiosk):
    p, inst, _jobs, _clock = kiosk
    p.set_page("library")
    lib = p.pages["library"]
    n = len(p.presets())
    p.handle(Turn(1, 10 * n))  # as far down as the list goes
    p.render()
    assert (lib.sel, lib.n) == (n - 1, n)  # the last preset: there is no "save" row to reach
    p.handle(Key(name="enter"))
    assert lib.mode == ""  # it loaded that preset, it did not ask for a name
    p.lock.unlock("test")
    p.handle(Turn(1, 10 * n))
    p.render()
    assert (lib.sel, lib.n) == (n, n + 1)
    p.handle(Key(name="enter"))
    assert lib.mode == "save"
