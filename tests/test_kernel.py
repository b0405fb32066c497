"""The compiled render kernel against the numpy reference renderer, and choosing between them.

Both renderers get the same sounds and the same events, period by period, and must give the same
output within TOLERANCE of full scale. Why 1e-5: both compute every value in the same precision
(positions in float64, the rest in float32); they differ only in how the Hermite polynomial is
evaluated (nested form in numpy, weights dotted with the taps in C), which is a handful of float32
roundings (2^-24 relative each, ~6e-8) on each voice's sample. Summed over up to 64 voices at the
levels played here that stays well under 1e-5; measured here: at most 4.2e-7.
"""

import sys

import numpy as np
import pytest

from promptsynth.engine import kernel
from promptsynth.engine.renderers import choose, make_renderer
from promptsynth.engine.sampler import Sampler, VoiceParams
from promptsynth.engine.sound import init_sound, prepare

TOLERANCE = 1e-5


def sounds(rate, rng):
    """The test sounds: each loop mode, mono and stereo, trimmed, started mid-sound."""
    audio, loop = init_sound(rate)
    noise = rng.uniform(-0.5, 0.5, (rate // 3, 2)).astype(np.float32)
    return [
        prepare(audio, loop_mode="forward", loop_start=loop[0], loop_end=loop[1], crossfade=rate // 100, sound_id=1),
        prepare(noise, loop_mode="pingpong", loop_start=1000, loop_end=9000, sound_id=2),
        prepare(noise[:, 0], loop_mode="off", sound_id=3),  # mono, plays to its end
        prepare(noise, start=500, end=rate // 4, loop_mode="off", sound_id=4),  # trimmed: de-click at the end
        prepare(
            noise[:, 1], loop_mode="forward", loop_start=100, loop_end=160, sound_id=5
        ),  # a loop shorter than a period
        prepare(noise[:40], loop_mode="off", sound_id=6),  # shorter than a period
    ]


def play(renderer, rate, period, params, script):
    s = Sampler(rate, period, VoiceParams(**params), max_polyphony=64, renderer=renderer)
    assert s.renderer.name == renderer, s.renderer_warning
    out, actives = [], []
    for events in script:
        for name, args in events:
            if name == "set_params":
                s.set_params(**args[0])
            else:
                getattr(s, name)(*args)
        out.append(s.render().copy())
        actives.append(s.active.copy())
    return np.concatenate(out), np.array(actives), s


def script_for(rate, periods, rng, snds):
    """Note ons and offs, pedal, bend, mod wheel, retunes, new sounds and panics at random."""
    script = [[("load", (snds[0],))]]
    for _ in range(periods):
        ev = []
        for _ in range(rng.integers(0, 4)):
            r = rng.random()
            if r < 0.45:
                ev.append(("note_on", (int(rng.integers(20, 110)), int(rng.integers(1, 128)), int(rng.integers(0, 3)))))
            elif r < 0.75:
                ev.append(("note_off", (int(rng.integers(20, 110)), int(rng.integers(0, 3)))))
            elif r < 0.82:
                ev.append(("pitch_bend", (float(rng.uniform(-1, 1)),)))
            elif r < 0.85:
                ev.append(("mod_wheel", (float(rng.random()),)))
            elif r < 0.87:
                ev.append(("set_pressure", (float(rng.random()),)))
            elif r < 0.91:
                ev.append(("sustain_pedal", (bool(rng.random() < 0.5), int(rng.integers(0, 3)))))
            elif r < 0.95:
                ev.append(("load", (snds[int(rng.integers(0, len(snds)))],)))
            elif r < 0.965:
                ev.append(("set_tune", (None, float(rng.uniform(-50, 50)))))
            elif r < 0.975:
                ev.append(("set_brightness", (float(rng.uniform(-1, 1)),)))
            elif r < 0.98:
                ev.append(("set_timbre", (float(rng.uniform(-0.5, 0.3)),)))
            else:
                ev.append(("all_sound_off", ()))
        script.append(ev)
    return script


SETTINGS = [
    dict(attack=0.0, decay=0.0, sustain=1.0, release=0.0, polyphony=16),
    dict(attack=5.0, decay=100.0, sustain=0.7, release=50.0, polyphony=8, velocity_track=100.0),
    dict(attack=300.0, decay=2000.0, sustain=0.0, release=3000.0, polyphony=64, vibrato_depth=100.0),
    dict(attack=1.0, decay=10.0, sustain=0.3, release=2.0, polyphony=4, bend_range=24.0),  # steals
    # the LFO on pitch and level, each shape, its delay and fade, the mod wheel and pressure
    dict(lfo_wave="sine", lfo_rate=7.0, lfo_pitch=80.0, lfo_level=40.0, lfo_delay=30.0, lfo_fade=100.0),
    dict(lfo_wave="triangle", lfo_rate=3.0, lfo_pitch=300.0, lfo_modwheel=100.0, polyphony=8),
    dict(lfo_wave="square", lfo_rate=11.0, lfo_level=100.0, lfo_aftertouch=100.0, release=30.0),
    dict(lfo_wave="sample_hold", lfo_rate=20.0, lfo_pitch=1200.0, lfo_level=60.0, polyphony=6),
]
# the filter: each type, with its envelope, tracking and CC74/CC71 moving it (resonance up to
# 80 %: at full resonance it self-oscillates, and the two renderers' rounding grows apart
# there, as any two oscillators' phases would)
FILTERED = [
    dict(
        filter_type="lp12",
        cutoff=800.0,
        resonance=60.0,
        filter_env_depth=3600.0,
        filter_decay=80.0,
        filter_sustain=0.2,
        filter_keytrack=100.0,
        polyphony=8,
        release=40.0,
    ),
    dict(
        filter_type="lp24",
        cutoff=3000.0,
        resonance=80.0,
        filter_veltrack=-2400.0,
        filter_attack=30.0,
        filter_env_depth=-1200.0,
        polyphony=6,
    ),
    dict(filter_type="bp12", cutoff=1500.0, resonance=30.0, polyphony=4, attack=5.0, release=100.0),
    dict(filter_type="hp12", cutoff=200.0, filter_env_depth=6000.0, filter_release=50.0, polyphony=4, release=80.0),
    dict(
        filter_type="lp12",
        cutoff=600.0,
        resonance=50.0,
        lfo_wave="triangle",
        lfo_rate=6.0,
        lfo_cutoff=2400.0,
        aftertouch_cutoff=1200.0,
        lfo_modwheel=50.0,
        polyphony=4,
    ),
]


@pytest.mark.parametrize("rate,period", [(48000, 128), (44100, 64), (48000, 16), (32000, 1000), (48000, 4096)])
@pytest.mark.parametrize("settings", range(len(SETTINGS)))
def test_the_kernel_renders_what_the_reference_renders(rate, period, settings):
    assert kernel.load() is not None, kernel.load_error
    rng = np.random.default_rng(1000 * settings + period)
    snds = sounds(rate, rng)
    periods = max(40, 48000 // period)  # a second of events, at least 40 periods
    script = script_for(rate, periods, rng, snds)
    ref, ref_active, _ = play("numpy", rate, period, SETTINGS[settings], script)
    out, active, s = play("kernel", rate, period, SETTINGS[settings], script)
    assert np.abs(ref).max() > 0.05  # the script made sound
    assert ref_active.any(axis=1).mean() > 0.3  # voices sounded most of the time
    err = np.abs(out - ref)
    assert err.max() <= TOLERANCE, "frame %d off by %.3g" % (int(np.argmax(err.max(axis=1))), err.max())
    assert (active == ref_active).all()  # the same voices end in the same periods


@pytest.mark.parametrize("rate,period", [(48000, 128), (44100, 100)])
@pytest.mark.parametrize("settings", range(len(FILTERED)))
def test_the_kernel_filters_as_the_reference_filters(rate, period, settings):
    # the reference filters in a Python loop over frames: a third of a second of events
    rng = np.random.default_rng(50 + settings + period)
    snds = sounds(rate, rng)
    script = script_for(rate, rate // 3 // period, rng, snds)
    ref, ref_active, r = play("numpy", rate, period, FILTERED[settings], script)
    out, active, k = play("kernel", rate, period, FILTERED[settings], script)
    assert np.abs(ref).max() > 0.02
    err = np.abs(out - ref)
    assert err.max() <= TOLERANCE, "frame %d off by %.3g" % (int(np.argmax(err.max(axis=1))), err.max())
    assert (active == ref_active).all()
    on = ref_active[-1]
    assert np.abs(k.voices.fstate[on] - r.voices.fstate[on]).max(initial=0.0) < 1e-4  # the states agree too


EFFECTS = [
    dict(chorus_mix=70.0, chorus_rate=1.3, chorus_depth=80.0),
    dict(delay_mix=60.0, delay_time=90.0, delay_feedback=70.0),
    dict(reverb_mix=50.0, reverb_size=85.0, reverb_damping=30.0),
    dict(chorus_mix=40.0, delay_mix=40.0, delay_time=37.0, reverb_mix=40.0, filter_type="lp12", cutoff=2000.0),
]


@pytest.mark.parametrize("rate,period", [(48000, 128), (44100, 100), (48000, 1000)])
@pytest.mark.parametrize("settings", range(len(EFFECTS)))
def test_the_kernel_runs_the_effects_as_the_reference_does(rate, period, settings):
    rng = np.random.default_rng(70 + settings + period)
    snds = sounds(rate, rng)
    script = script_for(rate, max(60, rate // 2 // period), rng, snds)
    # the effects turned off and on again (their lines cleared), the delay time moved, then a
    # tail with no voice sounding
    third = len(script) // 3
    script[third].append(("set_params", ({"reverb_mix": 0.0, "delay_mix": 0.0, "chorus_mix": 0.0},)))
    script[third + 20].append(("set_params", (EFFECTS[settings],)))
    script[third + 25].append(("set_params", ({"delay_time": 140.0},)))
    script += [[("all_sound_off", ())]] + [[] for _ in range(max(10, rate // 4 // period))]
    ref, _, r = play("numpy", rate, period, EFFECTS[settings], script)
    out, _, k = play("kernel", rate, period, EFFECTS[settings], script)
    assert np.abs(ref).max() > 0.02
    err = np.abs(out - ref)
    assert err.max() <= TOLERANCE, "frame %d off by %.3g" % (int(np.argmax(err.max(axis=1))), err.max())
    assert np.abs(k.effects.state - r.effects.state).max() < 1e-6
    assert (k.effects.pos == r.effects.pos).all()


def test_sixty_four_voices_on_many_sounds_match():
    rate, period = 48000, 128
    rng = np.random.default_rng(7)
    snds = sounds(rate, rng)
    script = [[("load", (snds[i % len(snds)],)), ("note_on", (30 + i, 100))] for i in range(64)] + [[]] * 60
    ref, _, r = play("numpy", rate, period, dict(polyphony=64, release=20.0), script)
    out, _, k = play("kernel", rate, period, dict(polyphony=64, release=20.0), script)
    assert np.abs(out - ref).max() <= TOLERANCE
    assert np.abs(ref).max() > 0.1


@pytest.mark.parametrize("filtered", [False, True])
def test_zones_with_pan_layers_chokes_and_their_own_envelopes_match(filtered):
    from promptsynth.engine.zones import Zone

    rate, period = 48000, 128
    rng = np.random.default_rng(11)
    snds = sounds(rate, rng)
    zones = [
        Zone((1,), lokey=20, hikey=60, root=48, pan=-0.7, attack=20.0, release=80.0),
        Zone((2, 3), lokey=50, hikey=90, root=60, tune=30.0, pan=0.4, gain_db=-3.0),  # layers with the first
        Zone((4,), lokey=91, hikey=110, root=100, one_shot=True, group=1, pan=1.0),
        Zone((5, 6), lokey=91, hikey=110, lovel=100, hivel=127, root=95, group=1, round_robin="random"),
    ]
    script = [[("load", (snd, False)) for snd in snds] + [("set_keymap", (zones,))]]
    for i in range(150):
        ev = [("note_on", (int(rng.integers(20, 111)), int(rng.integers(1, 128))))]
        if i % 3 == 0:
            ev.append(("note_off", (int(rng.integers(20, 111)),)))
        script.append(ev)
    params = dict(polyphony=12, release=40.0)
    if filtered:
        params.update(filter_type="lp12", cutoff=1200.0, resonance=40.0, filter_env_depth=2400.0, filter_decay=50.0)
    ref, _, r = play("numpy", rate, period, params, script)
    out, _, k = play("kernel", rate, period, params, script)
    assert np.abs(out - ref).max() <= TOLERANCE
    assert np.abs(ref[:, 0] - ref[:, 1]).max() > 0.05  # panned: the sides differ
    assert r.voices.chokes > 0 and r.voices.chokes == k.voices.chokes


@pytest.mark.parametrize("filtered", [False, True])
def test_a_scan_crossfading_as_the_wheel_moves_matches(filtered):
    """Notes held and released on a four-place scan while the mod wheel jumps and glides:
    places join sounding notes, crossfade (ramped per voice) and leave, the same in both."""
    from promptsynth.engine.zones import Zone

    rate, period = 48000, 128
    rng = np.random.default_rng(13)
    snds = sounds(rate, rng)
    zones = [Zone((i + 1,), lokey=30, hikey=100, root=60, scan=i + 1, gain_db=-2.0 * i) for i in range(4)]
    script = [[("load", (snd, False)) for snd in snds] + [("set_keymap", (zones,))]]
    for i in range(200):
        ev = []
        if i % 7 == 0:
            ev.append(("note_on", (int(rng.integers(30, 101)), int(rng.integers(1, 128)))))
        if i % 11 == 5:
            ev.append(("note_off", (int(rng.integers(30, 101)),)))
        if i % 3 == 0:
            ev.append(("mod_wheel", (float(rng.random()) if i % 30 == 0 else float(i % 60) / 60.0,)))
        script.append(ev)
    params = dict(polyphony=10, release=60.0)
    if filtered:
        params.update(filter_type="lp12", cutoff=1500.0, resonance=30.0)
    ref, _, r = play("numpy", rate, period, params, script)
    out, _, k = play("kernel", rate, period, params, script)
    assert np.abs(out - ref).max() <= TOLERANCE
    assert np.abs(ref).max() > 0.05
    assert (r.voices.strike == k.voices.strike).all()


def test_a_kernel_built_from_another_render_c_is_refused(monkeypatch):
    """A source tree updated without rebuilding the kernel: its voice layout differs, so the
    engine plays through the reference rather than let the kernel misread the voices."""
    monkeypatch.setattr(kernel, "layout", lambda: 1)
    which, warning = choose("auto", 128)
    assert which == "numpy" and "out of date" in warning
    s = Sampler(48000, 128, renderer="kernel")
    assert s.renderer.name == "numpy" and "rebuild" in s.renderer_warning


def test_without_the_kernel_the_reference_plays_and_says_why(monkeypatch):
    # the import fails for real: None in sys.modules makes Python's import raise ImportError
    monkeypatch.setitem(sys.modules, "promptsynth.engine.kernel._render", None)
    for name in ("auto", "kernel"):
        which, warning = choose(name, 128)
        assert which == "numpy" and "render kernel not built" in warning
        r, w = make_renderer(name, 48000, 128, 72)
        assert r.name == "numpy" and w == warning
    s = Sampler(48000, 128, renderer="kernel")
    s.load(prepare(np.full(4800, 0.25, np.float32)))
    s.note_on(60, 127)
    s.render()
    assert s.renderer.name == "numpy" and s.renderer_warning
    assert abs(float(s.render()[:, 0].max()) - 0.25 * 10 ** (-6 / 20)) < 1e-3  # it plays
    assert choose("numpy", 128) == ("numpy", "")


def test_an_unknown_renderer_is_refused():
    with pytest.raises(ValueError, match="auto, kernel, numpy"):
        choose("cuda", 128)


def test_the_limiter_and_the_master_gain_match_when_they_work_hardest():
    rate, period = 48000, 128
    rng = np.random.default_rng(3)
    loud = prepare(rng.uniform(-1, 1, (rate, 2)).astype(np.float32), loop_mode="forward", loop_end=rate // 2)
    script = [[("load", (loud,))]] + [[("note_on", (40 + i, 127))] for i in range(24)]
    script += [[("set_volume", (0.3 + 0.7 * (i % 2),))] for i in range(40)]  # gain ramps both ways
    params = dict(polyphony=32, attack=0.0, gain_db=6.0, velocity_track=0.0)
    ref, _, r = play("numpy", rate, period, params, script)
    out, _, k = play("kernel", rate, period, params, script)
    assert r.limiter.clipped > 10 and k.limiter.clipped == r.limiter.clipped
    assert np.abs(out - ref).max() <= TOLERANCE
    # the gain follows the peak, which differs by float32 rounding: so may the gain, relatively
    assert k.limiter.gain == pytest.approx(r.limiter.gain, rel=1e-6) and k.peak == pytest.approx(r.peak, abs=TOLERANCE)
    assert np.abs(ref).max() <= 1.0
