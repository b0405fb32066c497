"""`promptsynth bench engine`: the engine's render cost, note-on latency and xruns.

Render cost is measured on the real :class:`Sampler` with every voice sounding the init sound
in a forward loop, bent, with vibrato, and one voice re-struck every period so attacks, decays,
releases and steals are always in flight (the worst case, not a steady chord), on the compiled
kernel and on the numpy reference in the same run, taking turns.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from promptsynth.bench.stats import summary_us
from promptsynth.engine.sampler import Sampler, VoiceParams
from promptsynth.engine.sound import init_sound, prepare

# everything at work for every voice: a resonant 24 dB low-pass with its envelope, key and
# velocity tracking, CC74 sweeping it (the cutoff moves every frame of every period), the LFO
# on pitch, cutoff and level, and the three master effects
FILTERED: Dict[str, Any] = dict(
    filter_type="lp24",
    cutoff=1200.0,
    resonance=60.0,
    filter_keytrack=50.0,
    filter_veltrack=1200.0,
    filter_env_depth=3600.0,
    filter_attack=20.0,
    filter_decay=300.0,
    filter_sustain=0.3,
    lfo_wave="triangle",
    lfo_rate=5.0,
    lfo_pitch=20.0,
    lfo_cutoff=600.0,
    lfo_level=20.0,
    chorus_mix=30.0,
    delay_mix=25.0,
    delay_time=300.0,
    reverb_mix=25.0,
)


def _bench_sampler(voices: int, rate: int, period: int, renderer: str, filtered: bool) -> Sampler:
    audio, loop = init_sound(rate)
    snd = prepare(audio, loop_mode="forward", loop_start=loop[0], loop_end=loop[1], crossfade=int(0.01 * rate))
    s = Sampler(
        rate,
        period,
        VoiceParams(
            polyphony=voices, attack=5.0, decay=100.0, sustain=0.7, release=50.0, **(FILTERED if filtered else {})
        ),
        max_polyphony=max(voices, 64),
        renderer=renderer,
    )
    if s.renderer.name != renderer:
        raise RuntimeError(s.renderer_warning)
    s.load(snd)
    return s


BLOCK = 250  # periods a renderer renders before the next one's turn


def _bench_periods(s: Sampler, notes: List[int], i0: int, i1: int, filtered: bool, kept: Optional[List[float]]):
    """Periods i0..i1 of the workload on ``s``, their render times appended to ``kept``."""
    voices = len(notes)
    for i in range(i0, i1):
        # every period: move the bend, re-strike one note (release + new attack)
        s.pitch_bend(0.5 * np.sin(i / 50.0))
        if filtered:
            s.set_brightness(np.sin(i / 70.0))
        nt = notes[i % voices]
        s.note_off(nt)
        s.note_on(nt, 64 + i % 63)
        t0 = time.perf_counter()
        s.render()
        t1 = time.perf_counter()
        if kept is not None:
            kept.append(t1 - t0)
        held = int((s.active & ~s.released).sum())
        if held != voices:
            raise RuntimeError("only %d of %d voices held" % (held, voices))


def render_costs(
    voices: int,
    periods: int = 3000,
    rate: int = 48000,
    period: int = 128,
    renderers: Sequence[str] = ("kernel",),
    filtered: bool = False,
) -> Dict[str, Dict[str, float]]:
    """Each renderer's cost per period on the same workload, by renderer name. With several,
    they take turns in blocks of BLOCK periods, so every renderer sees the machine as it is over
    the same seconds: on a shared machine whose speed drifts by tens of percent over seconds,
    their ratio is then a fair one. (Turns of one period each would make every period start
    with caches the other renderer has just filled with its own data.)"""
    samplers = [_bench_sampler(voices, rate, period, r, filtered) for r in renderers]
    notes = [28 + (i * 29) % 64 for i in range(voices)]  # distinct notes over five octaves
    for s in samplers:
        for nt in notes:
            s.note_on(nt, 100)
        s.mod_wheel(0.6)
    times: List[List[float]] = [[] for _ in samplers]
    gc.collect()
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for s in samplers:  # warm-up, not measured
            _bench_periods(s, notes, 0, 200, filtered, None)
        for b0 in range(200, periods + 200, BLOCK):
            for s, kept in zip(samplers, times):
                _bench_periods(s, notes, b0, min(b0 + BLOCK, periods + 200), filtered, kept)
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()
    out = {}
    for name, kept in zip(renderers, times):
        out[name] = summary_us(kept, period / rate)
        out[name]["voices"] = voices
        out[name]["period_frames"] = period
    return out


def render_cost(
    voices: int,
    periods: int = 3000,
    rate: int = 48000,
    period: int = 128,
    renderer: str = "kernel",
    filtered: bool = False,
) -> Dict[str, float]:
    """One renderer's cost per period (see render_costs)."""
    return render_costs(voices, periods, rate, period, (renderer,), filtered)[renderer]


def renderers(periods: int) -> Dict[str, Any]:
    """The compiled kernel and the numpy reference on the same workloads, in one run (taking
    turns, so the ratio compares like with like)."""
    out: Dict[str, Any] = {"kernel": {}, "numpy": {}, "speedup_median": {}, "speedup_p99": {}}
    for v in (8, 16, 32, 64):
        key = str(v)
        both = render_costs(v, periods, renderers=("numpy", "kernel"))
        out["numpy"][key], out["kernel"][key] = both["numpy"], both["kernel"]
        for stat in ("median", "p99"):
            ratio = out["numpy"][key][stat + "_us"] / out["kernel"][key][stat + "_us"]
            out["speedup_" + stat][key] = round(ratio, 2)
    out["kernel_64_frames"] = {"32": render_cost(32, periods * 2, period=64, renderer="kernel")}
    out["kernel_everything"] = {str(v): render_cost(v, periods, renderer="kernel", filtered=True) for v in (32, 64)}
    out["kernel_everything_64_frames"] = {"32": render_cost(32, periods * 2, period=64, filtered=True)}
    return out


def zone_note_on(notes: int = 2000) -> Dict[str, Any]:
    """A note-on's cost in the sampler, plain (one sound across the keyboard) and through a
    32-pad keymap with 4 alternates a pad (128 sounds resident), in one run, taking turns."""
    from promptsynth.engine.zones import Zone

    rate, period = 48000, 128
    tone = np.sin(2 * np.pi * 220 * np.arange(rate // 10) / rate).astype(np.float32)
    plain = Sampler(rate, period, VoiceParams(polyphony=64), renderer="kernel")
    plain.load(prepare(tone, sound_id=1))
    kit = Sampler(rate, period, VoiceParams(polyphony=64), renderer="kernel")
    for i in range(128):
        kit.load(prepare(tone, sound_id=i + 1), current=False)
    kit.set_keymap(
        [Zone(tuple(range(4 * z + 1, 4 * z + 5)), lokey=36 + z, hikey=36 + z, root=36 + z) for z in range(32)]
    )
    times: Dict[str, List[float]] = {"plain": [], "keymap_32_zones": []}
    for i in range(notes):
        for name, s in (("plain", plain), ("keymap_32_zones", kit)):
            note = 36 + i % 32
            t0 = time.perf_counter()
            s.note_on(note, 100)
            times[name].append(time.perf_counter() - t0)
            s.note_off(note)
            if i % 32 == 31:
                s.render()
    out: Dict[str, Any] = {}
    for name, t in times.items():
        a = np.array(t) * 1e6
        out[name] = {"median_us": round(float(np.median(a)), 2), "p99_us": round(float(np.percentile(a, 99)), 2)}
    out["resident_sounds"] = sum(snd is not None for snd in kit.slots.sounds)
    return out


def scan_sweep(periods: int = 3000) -> Dict[str, Any]:
    """A period's cost (the sampler's whole render, glide included) with 8 notes held on a
    16-place scan, the wheel still and the wheel moving a MIDI step every period (places
    joining and leaving the notes), in one run, taking turns."""
    from promptsynth.engine.zones import Zone

    rate, period = 48000, 128
    n = rate  # a second of looped noise a place
    rng = np.random.default_rng(3)
    out: Dict[str, Any] = {}
    rigs = {}
    for name in ("wheel_still", "wheel_moving"):
        s = Sampler(rate, period, VoiceParams(polyphony=32), renderer="kernel")
        for i in range(16):
            x = rng.uniform(-0.3, 0.3, n).astype(np.float32)
            s.load(prepare(x, loop_mode="forward", loop_start=0, loop_end=n, sound_id=i + 1), current=False)
        s.set_keymap([Zone((i + 1,), root=60, scan=i + 1) for i in range(16)])
        s.mod_wheel(0.5)
        for note in range(60, 68):
            s.note_on(note, 100)
        rigs[name] = s
    times: Dict[str, List[float]] = {name: [] for name in rigs}
    joins = 0
    for i in range(periods):
        for name, s in rigs.items():
            if name == "wheel_moving":  # up and down the whole wheel, one step a period
                step = i % 254
                s.mod_wheel((step if step < 127 else 254 - step) / 127.0)
                before = int(s.active.sum())
            t0 = time.perf_counter()
            s.render()
            times[name].append(time.perf_counter() - t0)
            if name == "wheel_moving":
                joins += max(int(s.active.sum()) - before, 0)
    for name, t in times.items():
        a = np.array(t) * 1e6
        out[name] = {"median_us": round(float(np.median(a)), 2), "p99_us": round(float(np.percentile(a, 99)), 2)}
    out["moving_over_still_median"] = round(out["wheel_moving"]["median_us"] / out["wheel_still"]["median_us"], 3)
    out["places_joined"] = joins
    out["voices_sounding_still"] = int(rigs["wheel_still"].active.sum())
    return out


def _engine_rig(sampler_settings: dict):
    """Start a rig and an engine process on its paced tap; return (rig, engine host, keyboard)."""
    from promptsynth.bench.rig import Rig, wait_for
    from promptsynth.daemon.engine_host import EngineHost
    from promptsynth.daemon.instrument import startup_sound

    rig = Rig()
    cfg = rig.config("tap_jack", **sampler_settings)
    sup = EngineHost(cfg, rig.env)
    sup.start()
    sup.play(startup_sound(cfg, sup.new_id())[0])
    kbd = rig.keyboard()
    if not sup.wait_ready(15.0):
        raise RuntimeError("engine never became ready: %s" % [n.text for n in sup.notices])
    if not wait_for(lambda: sup.stats["midi_ports"] >= 1, 5.0):
        raise RuntimeError("engine never opened the keyboard's port")
    return rig, sup, kbd


def note_latency(notes: int = 20) -> Dict[str, object]:
    """Note-on sent over JACK MIDI to its first sample at the output of the paced ALSA stream.

    The engine stamps each note-on when its loop picks it up (CLOCK_MONOTONIC, shared by all
    processes) and reads how many frames ALSA still holds ahead of it; the note's first sample
    is the first frame of the next period written, so it reaches the output after those frames.
    The tap shows where each onset landed: always on a period boundary.
    """
    from promptsynth.bench.rig import onset_after, summary, wait_for

    rig, sup, kbd = _engine_rig({"attack": 0.0, "release": 2.0})
    try:
        time.sleep(0.3)
        pickup, queued, total, aligned = [], [], [], 0
        sent_frames = []
        for i in range(notes):
            time.sleep(0.1 + 0.0013 * (i * 7 % 11))  # spread the sends over the period grid
            count = sup.stats["note_on_count"]
            sent_frames.append(rig.tap_frames())
            t_send = time.monotonic()
            kbd.send_message([0x90, 60, 127])
            if not wait_for(lambda: sup.stats["note_on_count"] > count, 2.0, step=0.001):
                raise RuntimeError("a note-on never reached the engine")
            p_ms = (sup.stats["note_on_time"] - t_send) * 1000.0
            q_ms = sup.stats["note_on_queued"] * 1000.0 / rig.rate
            pickup.append(p_ms)
            queued.append(q_ms)
            total.append(p_ms + q_ms)
            time.sleep(0.1)
            kbd.send_message([0x80, 60, 0])
        time.sleep(0.3)
        x = rig.read_tap()
        for frame in sent_frames:
            onset = onset_after(x, max(frame - 4 * rig.period, 0))
            aligned += onset >= 0 and (onset - 1) % rig.period == 0  # the init sound starts at exactly 0
        buffer_frames = sup.ready.buffer_frames
        return {
            "midi_to_engine_ms": summary(pickup),
            "queued_in_alsa_ms": summary(queued),
            "to_output_ms": summary(total),
            "budget_ms": round((rig.period + buffer_frames) * 1000.0 / rig.rate, 3),
            # JACK hands MIDI to clients at its cycle boundaries (one 128-frame cycle here); the
            # ALSA sequencer on the device does not: that share is the rig's, not the engine's
            "rig_jack_midi_cycle_ms": round(rig.period * 1000.0 / rig.rate, 3),
            "buffer_frames": buffer_frames,
            "onsets_on_period_boundary": "%d/%d" % (aligned, notes),
        }
    finally:
        sup.stop()
        rig.close()


def paced_xruns(seconds: float = 10.0, voices: int = 16) -> Dict[str, float]:
    """Xruns while ``voices`` notes sound through the real-time paced PCM for ``seconds``."""
    rig, sup, kbd = _engine_rig({"polyphony": voices})
    try:
        for i in range(voices):
            kbd.send_message([0x90, 40 + i * 2, 100])
        time.sleep(0.5)
        x0, j0, p0 = sup.stats["xruns"], rig.jack.xruns(), sup.stats["periods"]
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        renders = sup.stats.render_times()
        renderer = "kernel" if sup.stats["kernel"] else "numpy"
        periods = sup.stats["periods"] - p0
        out = {
            "seconds": round(elapsed, 2),
            "renderer": renderer,
            "voices_sounding": int(sup.stats["voices"]),
            "engine_xruns": int(sup.stats["xruns"] - x0),
            "jackd_xruns": rig.jack.xruns() - j0,
            "periods": int(periods),
            "periods_expected": int(round(elapsed * rig.rate / rig.period)),
            "render_in_engine": summary_us(renders[-int(periods) :] / 1e6, rig.period / rig.rate),
        }
        return out
    finally:
        sup.stop()
        rig.close()


def run(quick: bool = False) -> Dict[str, object]:
    periods = 500 if quick else 3000
    result: Dict[str, Any] = {"period_frames": 128, "rate": 48000, "period_us": round(128 / 48000 * 1e6, 1)}
    result["renderers"] = rr = renderers(periods)
    result["render"] = rr["kernel"]  # what the engine plays through (the numpy figures are beside it)
    result["zone_note_on"] = zone_note_on(200 if quick else 2000)
    result["scan_sweep"] = scan_sweep(300 if quick else 3000)
    result["note_on_latency"] = note_latency(5 if quick else 20)
    result["paced_run"] = paced_xruns(2.0 if quick else 10.0)
    result["aims"] = {
        "everything_32_p99_pct<=5": rr["kernel_everything"]["32"]["p99_pct"] <= 5.0,
        "everything_64_p99_pct<=10": rr["kernel_everything"]["64"]["p99_pct"] <= 10.0,
        "everything_32_at_64_frames_p99_pct<=10": rr["kernel_everything_64_frames"]["32"]["p99_pct"] <= 10.0,
        "kernel_speedup_32>=8": rr["speedup_median"]["32"] >= 8.0,
        "latency_max<=budget+rig_jack_midi_cycle": result["note_on_latency"]["to_output_ms"]["max"]
        <= result["note_on_latency"]["budget_ms"] + result["note_on_latency"]["rig_jack_midi_cycle_ms"],
        "latency_median<=budget": result["note_on_latency"]["to_output_ms"]["median"]
        <= result["note_on_latency"]["budget_ms"],
        "xruns==0": result["paced_run"]["engine_xruns"] == 0,
    }
    return result
