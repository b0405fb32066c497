"""`promptsynth bench kiosk`: a kiosk soak. Scripted visitors use the real daemon on the bench
rig, with the tiny model, through the panel's real input path, and each walks away; the idle
return runs through ``Panel.refresh`` as it does at a kiosk. Measured:

  disk     the state directory (the model cache apart: its size never changes) after every
           visitor: bytes, files, library sounds; its maximum, its value after visitor 50 and
           at the end (flat = bounded), and the bound docs/design.md states ([library]
           keep_sounds visitor sounds beside what presets and the state keep), computed both
           with the documented largest sound (30 s of 48 kHz stereo float) and with the largest
           sound this soak made; raw generations (`generated/`) left behind
  restore  after every idle return: every sound setting, the preset, the generation settings,
           the prompt, the lock, the page, and state.json, against the attract preset loaded on
           a fresh instrument and the configured defaults; mismatches counted (aim: 0)
  time     per visitor (median, p95), generation; engine xruns; RSS of the daemon, the engine
           and the generator after visitor 50 and at the end

Each visitor types a prompt (sometimes correcting it), generates with Enter and waits for the
sound, then, by a fixed script from its number: shapes the envelope on the Sound page, presses
locked keys (Delete, Tab, a locked setting, a generation setting), loads an init preset, cancels
and generates again, or walks away while its sound is being generated; plays a note; goes idle.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from promptsynth import config
from promptsynth.bench.rig import Rig

VISITORS = 1000
QUICK_VISITORS = 30
KEEP_SOUNDS = 20
# the documented largest sound (docs/design.md, [library] keep_sounds): 30 s of 48 kHz stereo float
DOC_SOUND_BYTES = 30 * 48000 * 2 * 4
WORDS = (
    ("a warm", "a bright", "a dark", "a distant", "an angry", "a gentle", "a metallic", "a glassy", "a deep"),
    ("analog pad", "bell", "gong", "kickdrum", "choir", "violin", "thunderstorm", "bird call", "synth bass"),
)


def _rss_kb(pid: Optional[int]) -> Optional[int]:
    """VmRSS of a process in kB (None when it is gone or /proc cannot say)."""
    if pid is None:
        return None
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def disk_use(state: str) -> Dict[str, int]:
    """Bytes and files under the state directory, the model cache (`models/`) apart; the
    library's sounds (sidecars) and their bytes; raw generations in `generated/`."""
    out = {"bytes": 0, "files": 0, "sounds": 0, "sound_bytes": 0, "generated_files": 0, "model_bytes": 0}
    for root, _dirs, files in os.walk(state):
        rel = os.path.relpath(root, state)
        top = rel.split(os.sep)[0]
        for f in files:
            try:
                size = os.path.getsize(os.path.join(root, f))
            except OSError:
                continue
            if top == "models":
                out["model_bytes"] += size
                continue
            out["bytes"] += size
            out["files"] += 1
            if top == "sounds":
                out["sound_bytes"] += size
                out["sounds"] += f.endswith(".json")
            elif top == "generated":
                out["generated_files"] += 1
    return out


def sound_sizes(state: str) -> Dict[str, int]:
    """Bytes of each sound in the library (its WAV and its sidecar), by id."""
    folder = os.path.join(state, "sounds")
    sizes: Dict[str, int] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return sizes
    for fn in names:
        sid, ext = os.path.splitext(fn)
        if ext in (".wav", ".json") and not fn.startswith("."):
            try:
                sizes[sid] = sizes.get(sid, 0) + os.path.getsize(os.path.join(folder, fn))
            except OSError:
                pass
    return sizes


def expected_attract(cfg: config.Config) -> Tuple[Any, Any]:
    """What the idle return must give: the attract preset loaded on a fresh instrument (its own
    state directory, no engine started) with every setting it does not state at the schema's
    default, and the generation settings as configured."""
    from promptsynth.daemon.generation import GenSettings
    from promptsynth.daemon.instrument import complete_settings
    from promptsynth.daemon.run import Daemon

    tmp = tempfile.mkdtemp(prefix="psynth-attract-")
    try:
        ref = Daemon(config.replace(cfg, "paths", state=tmp)).inst
        bank, _, name = cfg.panel.attract.rpartition("/")
        preset = ref.preset(bank or "factory", name)
        preset = dataclasses.replace(preset, sampler=complete_settings(preset.sampler))
        if not ref.load_preset(preset, generate=False):
            raise RuntimeError("the attract preset %s does not load" % cfg.panel.attract)
        want = ref.current
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return want, GenSettings.from_config(cfg)


def restore_mismatches(d, want, gen_want) -> List[str]:
    """Everything that differs from the attract state after an idle return, by name (empty: exact)."""
    from promptsynth.config import SoundSettings
    from promptsynth.library.presets import Preset

    assert d.front is not None
    p, inst = d.front.panel, d.inst
    cur = inst.current
    bad = []
    for f in dataclasses.fields(SoundSettings):
        if getattr(cur.sampler, f.name) != getattr(want.sampler, f.name):
            bad.append("sampler.%s=%r" % (f.name, getattr(cur.sampler, f.name)))
    for key in ("bank", "name", "sound", "generation"):
        if getattr(cur, key) != getattr(want, key):
            bad.append("preset.%s=%r" % (key, getattr(cur, key)))
    for f in dataclasses.fields(type(gen_want)):
        if getattr(inst.gen_settings, f.name) != getattr(gen_want, f.name):
            bad.append("generation.%s=%r" % (f.name, getattr(inst.gen_settings, f.name)))
    if p.prompt.text:
        bad.append("prompt=%r" % p.prompt.text)
    if not p.lock.locked:
        bad.append("unlocked")
    if p.page != "play":
        bad.append("page=%s" % p.page)
    if p.job is not None or inst.queued():
        bad.append("jobs left")
    if p.pages["library"].mode:
        bad.append("library mode=%s" % p.pages["library"].mode)
    try:
        with open(os.path.join(config.state_dir(inst.cfg), "state.json")) as fh:
            saved = Preset.from_json(json.load(fh)["current"])
        if (saved.name, saved.sound, saved.sampler) != (want.name, want.sound, want.sampler):
            bad.append("state.json=%s/%s" % (saved.name, saved.sound))
    except (OSError, ValueError, KeyError) as e:
        bad.append("state.json unreadable: %s" % e)
    return bad


class Soak:
    """The daemon on the rig in kiosk mode, and the visitors' script."""

    def __init__(self, rig: Rig, keep: int, seconds: float, steps: int, idle_timeout: float = 300.0):
        from promptsynth.daemon.run import Daemon

        cfg = rig.config("rig_jack")  # paced by JACK's dummy driver; no tap file growing for hours
        self.state = tempfile.mkdtemp(prefix="psynth-kiosk-")
        cfg = config.replace(cfg, "paths", state=self.state)
        # nice 0: the soak measures the instrument, not how a busy machine treats a niced worker
        cfg = config.replace(cfg, "model", id="tiny", device="cpu", threads=1, nice=0)
        cfg = config.replace(cfg, "generate", seconds=seconds, steps=steps)
        cfg = config.replace(cfg, "panel", kiosk=True, idle_timeout=idle_timeout, kiosk_pin="2468")
        cfg = config.replace(cfg, "library", keep_sounds=keep)
        self.cfg, self.keep = cfg, keep
        self.d = Daemon(cfg, rig.env)
        self.seq = 0
        self.counts = {
            "generated": 0,
            "failed": 0,
            "cancelled": 0,
            "walked_away": 0,
            "walk_away_finished_first": 0,
            "cancels_after_last_step": 0,
            "notes_played": 0,
            "notes_unheard": 0,
            "refusal_hints": 0,
            "envelope_edits": 0,
            "presets_loaded": 0,
        }
        self.failures: List[str] = []

    # ---- the loop -------------------------------------------------------------------------------
    def until(self, pred: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.d.step()
            if pred():
                return True
        return bool(pred())

    def job_end(self, job: int, timeout: float = 300.0):
        """Step until job ``job`` ends; its Result or Failed (None on timeout)."""
        from promptsynth.generator import protocol as gm

        found: List[object] = []

        def ended() -> bool:
            self.seq, events = self.d.inst.events_since(self.seq)
            found.extend(e for e in events if isinstance(e, (gm.Result, gm.Failed)) and e.job_id == job)
            return bool(found)

        self.until(ended, timeout)
        return found[0] if found else None

    def start(self) -> None:
        self.d.start()
        if not self.until(lambda: self.d.inst.model_state() == "ready", 600.0):
            raise RuntimeError("the tiny model did not load: %s" % self.d.inst.model_state())
        if not self.until(lambda: self.d.host.ready is not None, 60.0):
            raise RuntimeError("the engine did not start")
        self.seq = self.d.inst.events_since(0)[0]

    def stop(self) -> None:
        self.d.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    # ---- a visitor's actions, through the panel's input path --------------------------------------
    @property
    def panel(self):
        assert self.d.front is not None, "the front panel did not start"
        return self.d.front.panel

    def keys(self, *events) -> None:
        from promptsynth.panel.events import Key

        p = self.panel
        for ev in events:
            p.handle(Key(name=ev) if len(ev) > 1 else Key(char=ev))
        self.d.step()

    def type(self, text: str) -> None:
        from promptsynth.panel.events import Key

        p = self.panel
        for ch in text:
            p.handle(Key(char=ch))
        self.d.step()

    def hinted(self) -> None:
        """A locked action shows a hint (never an error)."""
        m = self.panel.model
        if m.message_kind == "hint" and m.message.startswith("kiosk"):
            self.counts["refusal_hints"] += 1

    def generate(self, n: int, prompt: str, rng: random.Random) -> Optional[int]:
        """Type the prompt, Enter; the job id (None, counted as failed, if refused)."""
        p = self.panel
        if rng.random() < 0.3:  # a typo, corrected
            self.type(prompt[:-1] + "x")
            self.keys("backspace")
            self.type(prompt[-1])
        else:
            self.type(prompt)
        if p.prompt.text != prompt:
            self.failures.append("visitor %d: the prompt reads %r, not %r" % (n, p.prompt.text, prompt))
        return self.enter(n)

    def enter(self, n: int) -> Optional[int]:
        """Enter on the Prompt page: the job it submitted (read before the loop runs on: a job of
        the tiny model can end within the same round, which clears the panel's ``job``)."""
        from promptsynth.panel.events import Key

        p = self.panel
        p.handle(Key(name="enter"))
        job = p.job
        self.d.step()
        if job is None:
            self.counts["failed"] += 1
            self.failures.append("visitor %d: Enter did not generate (%s)" % (n, p.model.message))
        return job

    def wait_result(self, n: int, job: int) -> bool:
        from promptsynth.generator import protocol as gm

        ev = self.job_end(job)
        if isinstance(ev, gm.Result):
            cur = self.d.inst.current
            files = sound_sizes(self.state)
            if cur.sound not in files or cur.bank != "user":
                self.counts["failed"] += 1
                self.failures.append("visitor %d: the result is not in the library and playing" % n)
                return False
            self.counts["generated"] += 1
            return True
        self.counts["failed"] += 1
        self.failures.append("visitor %d: job %d %s" % (n, job, getattr(ev, "reason", "timed out")))
        return False

    def envelope(self, rng: random.Random) -> None:
        """The Sound page: attack, decay, sustain, release turned; gain tried (locked)."""
        from promptsynth.panel.events import Turn

        p = self.panel
        self.keys("f5", *(["down"] * 8))  # attack
        for _ in range(4):
            before = p.sampler()
            p.handle(Turn(1, rng.choice((-3, -1, 1, 2, 5))))
            self.counts["envelope_edits"] += p.sampler() != before
            self.keys("down")
        self.keys("right")  # gain: locked
        self.hinted()

    def locked_keys(self) -> None:
        """Delete and Tab on the Library page, a generation setting on the Settings page."""
        from promptsynth.panel.events import Press, Turn

        p = self.panel
        self.keys("f6", "down", "delete")
        self.hinted()
        p.handle(Press(0, "long"))  # home, then the Library again: Tab there
        self.keys("f6", "down", "tab")
        self.keys("f4")
        p.handle(Turn(1, 3))
        self.hinted()
        p.handle(Press(1, "long"))
        self.d.step()

    def load_preset(self, rng: random.Random) -> None:
        """An init preset from the Library (factory first: Init, Init pad, Init pluck)."""
        row = rng.choice((0, 2))
        self.keys("f6")
        self.keys(*(["up"] * getattr(self.panel.pages["library"], "sel", 0)), *(["down"] * row), "enter")
        if self.d.inst.current.name == ("Init", "Init pad", "Init pluck")[row]:
            self.counts["presets_loaded"] += 1

    def play(self) -> None:
        from promptsynth.engine import messages as m

        host = self.d.host
        count = host.stats["note_on_count"]
        host.send(m.Midi(bytes([0x90, 60, 100])))
        heard = self.until(lambda: host.stats["note_on_count"] > count and host.stats["voices"] >= 1, 10.0)
        host.send(m.Midi(bytes([0x80, 60, 0])))
        self.d.step()
        self.counts["notes_played" if heard else "notes_unheard"] += 1

    def go_idle(self) -> None:
        """Nobody touches the panel for [panel] idle_timeout seconds: the panel's idle clock is set
        back by that much, and the next step runs the idle return through Panel.refresh."""
        p = self.panel
        p.last_input = self.d.clock() - p.idle_timeout - 1.0
        self.d.step()

    def visitor(self, n: int, rng: random.Random) -> None:
        """One visitor, from walking up to walking away (the idle return included)."""
        from promptsynth.generator import protocol as gm

        prompt = "%s %s %d" % (rng.choice(WORDS[0]), rng.choice(WORDS[1]), n)
        job = self.generate(n, prompt, rng)
        if job is not None and n % 25 == 24:  # walks away while the sound is being generated
            self.counts["walked_away"] += 1
            self.until(lambda: self.panel.model.progress is not None, 60.0)
            self.go_idle()
            ev = self.job_end(job)  # cancelled; a sound finished meanwhile must not replace the attract
            if isinstance(ev, gm.Result):  # it ended in the step that saw the idle return, before it
                self.counts["walk_away_finished_first"] += 1
            elif isinstance(ev, gm.Failed) and ev.kind == "cancelled":
                self.counts["cancelled"] += 1
                self.counts["cancels_after_last_step"] += "it had finished" in ev.reason
            self.until(lambda: False, 0.1)  # the loop runs on a little: whatever came in is taken in
            return
        if job is not None and n % 10 == 3:  # Esc, then Enter again on the Prompt page
            self.keys("esc")
            ev = self.job_end(job)
            if isinstance(ev, gm.Failed) and ev.kind == "cancelled":
                self.counts["cancelled"] += 1
                self.counts["cancels_after_last_step"] += "it had finished" in ev.reason
            elif isinstance(ev, gm.Result):
                self.counts["generated"] += 1  # it had finished
            self.keys("f2")
            job = self.enter(n)
        if job is not None and self.wait_result(n, job):
            if n % 3 == 0:
                self.envelope(rng)
            if n % 4 == 1:
                self.locked_keys()
            if n % 7 == 5:
                self.load_preset(rng)
            self.play()
        self.go_idle()


def run(
    quick: bool = False,
    visitors: Optional[int] = None,
    keep: int = KEEP_SOUNDS,
    seconds: float = 1.0,
    steps: int = 2,
    rig: Optional[Rig] = None,
    progress: Optional[Callable[[int, Dict[str, int]], None]] = None,
) -> Dict[str, object]:
    """The soak; returns its figures (``ok`` False when the disk grew past the bound, an idle
    return left anything of a visitor, or a generation failed)."""
    import numpy as np

    n_visitors = visitors or (QUICK_VISITORS if quick else VISITORS)
    if progress is None:
        import logging

        log = logging.getLogger("bench")

        def progress(n: int, sample: Dict[str, int]) -> None:
            if n % 100 == 0:
                log.info(
                    "kiosk soak: visitor %d of %d; %d sounds, %d bytes",
                    n,
                    n_visitors,
                    sample["sounds"],
                    sample["bytes"],
                )

    own_rig = rig is None
    rig = rig or Rig()
    soak = Soak(rig, keep, seconds, steps)
    samples: List[Dict[str, int]] = []
    times: List[float] = []
    mismatches: List[Tuple[int, List[str]]] = []
    rss_at: Dict[str, Dict[str, Optional[int]]] = {}
    sizes_seen: Dict[str, int] = {}
    try:
        t0 = time.monotonic()
        soak.start()
        want, gen_want = expected_attract(soak.cfg)
        started_s = time.monotonic() - t0
        xruns0 = int(soak.d.host.stats["xruns"])
        baseline = disk_use(soak.state)
        for n in range(n_visitors):
            rng = random.Random(n)
            t = time.monotonic()
            soak.visitor(n, rng)
            times.append(time.monotonic() - t)
            bad = restore_mismatches(soak.d, want, gen_want)
            if bad:
                mismatches.append((n, bad))
            for sid, size in sound_sizes(soak.state).items():
                sizes_seen[sid] = size
            samples.append(dict(disk_use(soak.state), stored=soak.counts["generated"]))
            if n + 1 in (min(50, n_visitors), n_visitors):
                client = soak.d.gen.client
                rss_at["after_visitor_%d" % (n + 1) if n + 1 < n_visitors else "end"] = {
                    "daemon_kb": _rss_kb(os.getpid()),
                    "engine_kb": _rss_kb(soak.d.host.proc.pid if soak.d.host.proc is not None else None),
                    "generator_kb": _rss_kb(
                        client.proc.pid if client is not None and client.proc is not None else None
                    ),
                }
            if progress is not None:
                progress(n + 1, samples[-1])
        xruns = int(soak.d.host.stats["xruns"]) - xruns0
        restarts = {"engine": soak.d.host.restarts, "generator": soak.d.gen.client.restarts if soak.d.gen.client else 0}
        problems = soak.d.inst.problems()
    finally:
        soak.stop()
        if own_rig:
            rig.close()

    def pick(i: int) -> Dict[str, int]:
        return samples[min(i, len(samples)) - 1]

    largest = max(sizes_seen.values()) if sizes_seen else 0
    others_max = max(s["bytes"] - s["sound_bytes"] for s in samples)
    bound = keep * largest + others_max  # the documented policy, with this soak's largest sound
    doc_bound = keep * DOC_SOUND_BYTES + others_max  # ... and with the documented largest sound
    max_bytes = max(s["bytes"] for s in samples)
    max_sounds = max(s["sounds"] for s in samples)
    # after the pruning point (keep_sounds generated), the library holds keep_sounds sounds
    full = [s for s in samples if s["stored"] >= keep]
    vt = np.asarray(times)
    bounded = max_sounds <= keep and max_bytes <= bound and samples[-1]["generated_files"] == 0
    result: Dict[str, object] = {
        "visitors": n_visitors,
        "keep_sounds": keep,
        "generation": {"model": "tiny", "seconds": seconds, "steps": steps, "device": "cpu", "threads": 1},
        "start_to_model_ready_s": round(started_s, 1),
        "sounds_generated": soak.counts["generated"],
        "generations_failed": soak.counts["failed"],
        "actions": {k: v for k, v in soak.counts.items() if k not in ("generated", "failed")},
        "disk": {
            "baseline_bytes": baseline["bytes"],
            "max_bytes": max_bytes,
            "after_visitor_50_bytes": pick(50)["bytes"],
            "end_bytes": samples[-1]["bytes"],
            "max_files": max(s["files"] for s in samples),
            "after_visitor_50_files": pick(50)["files"],
            "end_files": samples[-1]["files"],
            "max_sounds": max_sounds,
            "sounds_after_pruning_point_min": min(s["sounds"] for s in full) if full else None,
            "end_sounds": samples[-1]["sounds"],
            "largest_sound_bytes": largest,
            "non_sound_bytes_max": others_max,
            "bound_bytes": bound,
            "bound_with_documented_largest_sound_bytes": doc_bound,
            "max_within_bound": max_bytes <= bound,
            "raw_generation_files_left": samples[-1]["generated_files"],
            "model_cache_bytes": samples[-1]["model_bytes"],
            "bounded": bounded,
        },
        "restore": {
            "idle_returns": n_visitors,
            "mismatches": len(mismatches),
            "first_mismatches": [{"visitor": n, "what": what} for n, what in mismatches[:5]],
        },
        "visitor_s": {
            "median": round(float(np.median(vt)), 3),
            "p95": round(float(np.percentile(vt, 95)), 3),
            "max": round(float(vt.max()), 3),
            "total": round(float(vt.sum()), 1),
        },
        "engine_xruns": xruns,
        "restarts": restarts,
        "problems": problems,
        "rss_kb": rss_at,
        "failures": soak.failures[:10],
        "ok": bool(bounded and not mismatches and soak.counts["failed"] == 0),
    }
    return result
