"""What the web page and OSC do to the instrument: plain functions over its API, run on the
daemon loop's thread (through web/bridge.py), each answering with plain data (JSON-able).

Nothing here reaches behind `daemon/instrument.py`: the panel, the page and OSC change the
instrument in the same ways, with the same checks and messages.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from promptsynth import config as config_mod
from promptsynth.config import SoundSettings
from promptsynth.generator import protocol as gm

KEEP_JOBS = 20  # ended jobs the board remembers (the page shows the last few)


@dataclasses.dataclass
class JobView:
    id: int
    prompt: str
    state: str = "queued"  # queued, running, done, failed, cancelled
    step: int = 0
    total: int = 0
    remaining: float = 0.0
    reason: str = ""


class JobBoard:
    """Every generation job as the page shows it, whoever submitted it (panel, page, OSC), kept
    up to date from the instrument's event log: the panel's JobWatch, for the network."""

    def __init__(self, inst):
        self.inst = inst
        self.jobs: Dict[int, JobView] = {}
        self.seq = inst.events_since(0)[0]

    def update(self) -> None:
        self.seq, events = self.inst.events_since(self.seq)
        for ev in events:
            job = getattr(ev, "job_id", None)
            if job is None:
                continue
            v = self.jobs.get(job)
            if v is None:
                p = self.inst.gen.params_of(job)
                v = self.jobs[job] = JobView(job, p.prompt if p is not None else "")
            if isinstance(ev, gm.Progress):
                v.state, v.step, v.total, v.remaining = "running", ev.step, ev.total, ev.remaining
            elif isinstance(ev, gm.Result):
                v.state, v.step = "done", v.total
            elif isinstance(ev, gm.Failed):
                v.state = "cancelled" if ev.kind == "cancelled" else "failed"
                v.reason = ev.reason
        ended = [j for j, v in self.jobs.items() if v.state in ("done", "failed", "cancelled")]
        for j in sorted(ended)[:-KEEP_JOBS] if len(ended) > KEEP_JOBS else []:
            del self.jobs[j]

    def submitted(self, job: int, prompt: str) -> None:
        self.jobs.setdefault(job, JobView(job, prompt))

    def view(self) -> List[Dict[str, Any]]:
        return [dataclasses.asdict(v) for _, v in sorted(self.jobs.items(), reverse=True)][:10]


def status(inst, board: JobBoard) -> Dict[str, Any]:
    """Now playing: the preset, its sound and prompt, the meters, the model, problems, the jobs."""
    board.update()
    cur = inst.current
    m = inst.meters()
    prompt = str(cur.generation.get("prompt", "")) if cur.generation else ""
    return {
        "preset": {"bank": cur.bank, "name": cur.name},
        "sound": cur.sound or "",
        "prompt": prompt,
        "zones": len(cur.zones),
        "meters": {
            "voices": m.voices,
            "peak": round(m.peak, 4),
            "xruns": m.xruns,
            "audio_ok": m.audio_ok,
            "midi_ports": m.midi_ports,
            "notes": m.note_count,
        },
        "model": inst.model_state(),
        "where": inst.gen.where(),
        "queued": inst.queued(),
        "problems": inst.problems(),
        "jobs": board.view(),
    }


def generate(inst, board: JobBoard, prompt: str) -> int:
    """Queue a sound from ``prompt`` (raises with the instrument's message when refused)."""
    if not isinstance(prompt, str):
        raise ValueError("the prompt must be text")
    job = inst.generate(prompt)
    board.submitted(job, prompt)
    return job


def cancel(inst, job: Optional[int] = None) -> int:
    return inst.cancel(job)


def load_preset(inst, bank: str, name: str) -> None:
    """Play a stored preset (raises LibraryError naming what is missing)."""
    if not inst.load_preset(inst.preset(bank, name)):
        raise config_mod.ConfigError("preset %s/%s has no sound to play" % (bank, name))


def play_sound(inst, sound_id: str) -> None:
    if not inst.play_sound(sound_id):
        raise config_mod.ConfigError("sound %s could not be played" % sound_id)


def setting_rows(obj: Any) -> List[Dict[str, Any]]:
    """A settings dataclass as the page's rows: value and the schema's doc, range and choices."""
    rows = []
    for f in dataclasses.fields(obj):
        meta = f.metadata
        rows.append(
            {
                "key": f.name,
                "value": getattr(obj, f.name),
                "doc": meta.get("doc", ""),
                "min": meta.get("min"),
                "max": meta.get("max"),
                "choices": list(meta.get("choices") or ()),
                "type": type(f.default).__name__,
            }
        )
    return rows


def settings(inst) -> Dict[str, Any]:
    return {"sound": setting_rows(inst.current.sampler), "generate": setting_rows(inst.gen_settings)}


SECTIONS = ("sound", "generate")


def set_setting(inst, section: str, key: str, value: Any) -> Any:
    """Change one setting through the instrument (the schema checks it: ConfigError names the
    key); returns the value as stored."""
    if section == "sound":
        config_mod.check(SoundSettings, key, value)  # an unknown key is named before anything changes
        return getattr(inst.set_sound(key, value), key)
    if section == "generate":
        return getattr(inst.set_generation(key, value), key)
    raise config_mod.ConfigError("unknown settings section %r (known: %s)" % (section, ", ".join(SECTIONS)))


def note(inst, key: int, velocity: int) -> None:
    """Play a note as a MIDI keyboard would (velocity 0: note off)."""
    inst.note(int(key), int(velocity))
