"""Sound shaping on synthetic signals with known answers."""

import numpy as np
import pytest

from conftest import PERIOD, RATE, make_sampler, render
from promptsynth.engine.sound import prepare
from promptsynth.library import shaping
from promptsynth.library.shaping import ShapeOptions, detect_pitch, shape

SR = 16000


def harmonic(hz, seconds=2.0, rate=SR, partials=8, amp=0.3, decay=None):
    t = np.arange(int(seconds * rate)) / rate
    x = sum(amp / k * np.sin(2 * np.pi * hz * k * t + 0.3 * k) for k in range(1, partials + 1) if hz * k < rate / 2)
    if decay:
        x = x * np.exp(-t / decay)
    return x


def kick(rate=SR, seconds=0.5, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    f = 50 + 120 * np.exp(-t / 0.03)  # pitch sweep, like a real kick
    body = np.sin(2 * np.pi * np.cumsum(f) / rate) * np.exp(-t / 0.12)
    click = np.random.default_rng(seed).standard_normal(len(t)) * np.exp(-t / 0.004) * 0.5
    return 0.8 * (body + click)


@pytest.mark.parametrize("hz", [55.0, 110.0, 261.6256, 440.0 * 2 ** (0.3 / 12), 523.25 * 2 ** (-0.41 / 12), 987.77])
def test_root_pitch_of_harmonic_tones_within_5_cents(hz):
    p = detect_pitch(harmonic(hz, rate=RATE), RATE)
    midi = 69 + 12 * np.log2(hz / 440.0)
    assert p["pitched"] and p["note"] == int(round(midi))
    assert abs((p["note"] + p["cents"] / 100) - midi) * 100 < 5.0
    assert p["confidence"] > 0.7


def test_white_noise_and_a_drum_hit_are_unpitched():
    noise = np.random.default_rng(1).standard_normal(RATE * 2) * 0.3
    assert detect_pitch(noise, RATE)["pitched"] is False
    assert detect_pitch(kick(RATE), RATE)["pitched"] is False


def test_chain_resamples_cleans_and_levels_a_padded_tone():
    tone = harmonic(220.0, 3.0)
    x = np.concatenate([np.zeros(SR), tone, np.zeros(SR // 2)]) + 0.2  # silence padding, a DC offset
    out = shape(x, SR, 48000, prompt="a warm organ", options=ShapeOptions(target_lufs=-18.0))
    a = out.audio[:, 0].astype(np.float64)
    assert out.rate == 48000
    assert abs(len(a) / 48000 - 3.0) < 0.05  # both silences trimmed
    assert abs(a.mean()) < 1e-3  # DC removed
    assert a[0] == 0.0 and abs(a[-1]) < 1e-6  # starts and ends at zero
    from promptsynth.library.shaping import loudness

    assert abs(loudness(out.audio.astype(np.float64), 48000) - (-18.0)) < 0.5
    steps = [s["step"] for s in out.steps]
    assert steps == ["dc", "resample", "trim", "fades", "loudness", "pitch", "loop"]
    assert out.analysis["pitch"]["note"] == 57 and out.analysis["loop"] is not None


def test_true_peak_ceiling_beats_the_loudness_target():
    clicks = np.zeros(SR)
    clicks[::1600] = 0.9  # sparse peaks, little loudness
    out = shape(
        clicks,
        SR,
        48000,
        options=ShapeOptions(target_lufs=-10.0, ceiling_dbtp=-1.0, pitch=False, loop=False, trim=False),
    )
    lv = [s for s in out.steps if s["step"] == "loudness"][0]
    assert lv["peak_limited"] is True
    assert shaping.true_peak(out.audio.astype(np.float64), 48000) <= 10 ** (-1.0 / 20) * 1.01


def test_four_kicks_in_a_row_keep_only_the_first():
    k = kick()
    gap = np.zeros(int(0.1 * SR))
    four = np.concatenate([k, gap, k, gap, k, gap, k])
    out = shape(four, SR, 48000, prompt="A kickdrum")
    hit = [s for s in out.steps if s["step"] == "single_hit"][0]
    assert len(hit["onsets_s"]) == 4
    assert len(out.audio) / 48000 < 0.65  # one kick (0.5 s + gap), not four
    assert "loop" not in out.analysis  # a hit is not looped


def test_single_hit_prompt_rules():
    assert shaping.wants_single_hit("A single snare") and shaping.wants_single_hit("an 808 kickdrum")
    assert not shaping.wants_single_hit("The amen break") and not shaping.wants_single_hit("A jungle drum break")
    assert not shaping.wants_single_hit("Dark pad sound")


def test_slow_drift_is_high_passed():
    t = np.arange(SR * 2) / SR
    x = harmonic(440.0, 2.0, amp=0.1) + 0.3 * np.sin(2 * np.pi * 1.5 * t)  # 1.5 Hz wander
    out = shape(x, SR, SR, options=ShapeOptions(trim=False, fades=False, loudness=False, pitch=False, loop=False))
    dc = [s for s in out.steps if s["step"] == "dc"][0]
    assert dc["highpass_hz"] == 10.0
    from scipy.signal import butter, sosfiltfilt

    low = sosfiltfilt(butter(2, 5.0, fs=SR, output="sos"), out.audio[:, 0].astype(np.float64))
    assert np.abs(low[SR // 2 :]).max() < 0.01


def test_every_step_can_be_turned_off():
    x = harmonic(220.0, 1.0) + 0.1
    off = ShapeOptions(
        resample=False, dc=False, single_hit=False, trim=False, fades=False, loudness=False, pitch=False, loop=False
    )
    out = shape(x, SR, 48000, options=off)
    assert out.steps == [] and out.rate == SR
    np.testing.assert_allclose(out.audio[:, 0], x.astype(np.float32))


def test_steady_tone_gets_a_loop_whose_seam_does_not_jump():
    x = harmonic(196.0, 4.0, partials=6)
    out = shape(x, SR, RATE, prompt="a steady organ")
    loop = out.analysis["loop"]
    assert loop is not None and loop["match"] > 0.99
    snd = prepare(
        out.audio, loop_mode="forward", loop_start=loop["start"], loop_end=loop["end"], crossfade=loop["crossfade"]
    )
    s = make_sampler()
    s.load(snd)
    s.note_on(60, 127)
    y = render(s, int(3 * len(out.audio) / PERIOD))[:, 0]  # several passes over the seam
    a = out.audio[:, 0]
    natural = np.abs(np.diff(a[loop["start"] : loop["end"]])).max()  # the tone's own largest step
    seam = np.abs(np.diff(y[len(a) - RATE :])).max()
    assert seam <= natural * 1.05, (seam, natural)


def test_a_decaying_pluck_has_no_loop():
    out = shape(harmonic(330.0, 3.0, decay=0.3), SR, 48000, prompt="a guitar string")
    assert out.analysis["loop"] is None
    assert out.analysis["pitch"]["pitched"]


def test_short_clip_loudness_uses_rms():
    out = shape(harmonic(440.0, 0.2), SR, 48000, options=ShapeOptions(target_lufs=-20.0, pitch=False, loop=False))
    assert abs(shaping.loudness(out.audio.astype(np.float64), 48000) + 20.0) < 0.5
