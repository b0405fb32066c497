"""The view model: everything the pages show, taken from the instrument once per tick."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from promptsynth import __version__
from promptsynth.panel import sysinfo
from promptsynth.panel.display import WIDTH


@dataclass
class Model:
    preset: str = ""
    prompt: str = ""
    model: str = ""
    model_state: str = ""
    root: Optional[int] = None
    tune: float = 0.0
    voices: int = 0
    peak: float = 0.0
    clock_bpm: float = 0.0  # the MIDI clock's tempo (0: none)
    note_count: int = 0  # note-ons so far, and the last one's key (the Kit page follows it)
    last_note: int = -1
    progress: Optional[Tuple[int, int, float]] = None  # the running job's (step, total, seconds left)
    running: Optional[int] = None  # the job being generated now, whoever submitted it
    queued: int = 0  # jobs waiting behind it
    made_on: str = ""  # where the running job is made: "server", "local" ("" when only ever here)
    last_result: str = ""
    message: str = ""  # shown over any page while it lasts (Panel.flash)
    message_kind: str = ""  # "error", "hint" or "info"
    problems: List[str] = field(default_factory=list)  # parts that do not work: "display absent"
    wave: Optional[Tuple[np.ndarray, np.ndarray]] = None
    markers: Dict[str, int] = field(default_factory=dict)
    system: List[str] = field(default_factory=list)

    @property
    def error(self) -> str:
        """The message shown, if it is an error ("" for none, a hint or info)."""
        return self.message if self.message_kind == "error" else ""


def refresh(m: Model, inst, page: str) -> None:
    """Fill ``m`` from the instrument (the System page's facts only while it is shown)."""
    cur = inst.current
    meters = inst.meters()
    m.preset = cur.name
    m.prompt = str(cur.generation.get("prompt") or "") if cur.generation else ""
    m.model = inst.gen_settings.model
    m.model_state = inst.model_state()
    m.root, m.tune = cur.sampler.root, cur.sampler.tune
    m.voices, m.peak, m.clock_bpm = meters.voices, meters.peak, meters.clock_bpm
    m.note_count, m.last_note = meters.note_count, meters.last_note
    m.queued = inst.queued()
    m.made_on = inst.gen.made_on(m.running)
    m.problems = inst.problems()
    if page == "system":
        m.system = (
            [
                sysinfo.ip_address(),
                *sysinfo.temperatures()[:2],
                sysinfo.memory(),
                "model %s" % m.model_state,
                "made %s" % inst.gen.where(),
                "audio %s" % inst.cfg.audio.device,
                "midi ports %d" % meters.midi_ports,
                "xruns %d" % meters.xruns,
            ]
            + (m.problems or ["all parts working"])
            + ["promptsynth %s" % __version__]
        )


def status_flags(m: Model) -> str:
    """The top bar's right side: the running job's progress and the queue behind it come first
    (GEN 40% +3), then an error, the model loading, a part that stopped working."""
    more = " +%d" % m.queued if m.queued else ""
    if m.running is not None:
        step, total, _ = m.progress if m.progress is not None else (0, 1, 0.0)
        return "GEN %d%%%s" % (100 * step // max(total, 1), more)
    if m.queued:
        return "GEN" + more
    if m.error:
        return "ERR"
    if m.model_state in ("starting", "loading"):
        return "LOAD"
    if m.problems:
        return "!" + m.problems[0].split()[0][:6].upper()  # e.g. !KEYBOA: see the System page
    return ""


def waveform(
    audio: Optional[np.ndarray], sampler, rate: int
) -> Tuple[Optional[Tuple[np.ndarray, np.ndarray]], Dict[str, int]]:
    """Min/max columns of a sound (scaled to its peak) and its marker columns, for the Sound page."""
    if audio is None or len(audio) == 0:
        return None, {}
    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    n = len(mono)
    cols = np.array_split(mono, WIDTH)
    peak = max(float(np.abs(mono).max()), 1e-9)
    wave = (
        np.array([c.min() if len(c) else 0.0 for c in cols]) / peak,
        np.array([c.max() if len(c) else 0.0 for c in cols]) / peak,
    )
    marks = {}
    for k in ("start", "end", "loop_start", "loop_end"):
        v = float(getattr(sampler, k))
        if v > 0 or k == "start":
            marks[k] = min(int(v * rate / n * (WIDTH - 1)), WIDTH - 1)
    if sampler.loop_mode == "off":
        marks.pop("loop_start", None)
        marks.pop("loop_end", None)
    return wave, marks
