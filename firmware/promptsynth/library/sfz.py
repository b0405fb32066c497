"""SFZ both ways for presets with zones: one `.sfz` with a `<region>` for each sound of each
zone, and the same read back (a kit from a USB stick, or one exported here).

Written:
- `<global>`: the preset's envelope, level, velocity tracking, bend and polyphony, and its
  filter, LFO and effect sends (library/export.py's opcodes).
- One `<region>` per sound of each zone:
  - `sample`, `lokey`/`hikey`, `lovel`/`hivel`, `pitch_keycenter`, `tune`;
  - `volume` and `pan`;
  - the zone's own envelope (`ampeg_*`), where it has one;
  - `loop_mode` (`one_shot` for a one-shot zone, else `loop_continuous` and its points, or
    `no_loop`);
  - `group` and `off_by` for a choke group;
  - `seq_length`/`seq_position` for alternates in turn, or `lorand`/`hirand` for random;
  - `region_label` for the zone's name.

Read: the same opcodes, with SFZ's inheritance (`<global>`, `<master>`, `<group>` under
`<region>`), note names (`c4`, `f#3`) and `key` for one-key regions. Regions that share their
ranges and a round-robin sequence become one zone with alternates. Every other opcode is
counted and reported as ignored, never an error. A `sample` that would leave the SFZ's own
folder is refused.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Optional, Tuple

from promptsynth.config import MAX_ALTERNATES, MAX_ZONES, ConfigError, SoundSettings, ZoneSettings, from_mapping
from promptsynth.library import atomic
from promptsynth.library.export import loop_frames, sfz_voice, wav_with_smpl
from promptsynth.library.presets import Preset
from promptsynth.library.sounds import LibraryError, SoundLibrary, file_stem

NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
HEADERS = ("control", "global", "master", "group", "region", "curve", "effect", "midi")
# what the reader takes from <global> into the preset, and from a region into its zone
GLOBAL_READ = {"ampeg_attack", "ampeg_decay", "ampeg_sustain", "ampeg_release", "amp_veltrack", "volume", "polyphony"}
GLOBAL_READ |= {"bend_up", "bend_down"}
REGION_READ = {"sample", "lokey", "hikey", "key", "lovel", "hivel", "pitch_keycenter", "tune", "transpose"}
REGION_READ |= {"volume", "pan", "ampeg_attack", "ampeg_decay", "ampeg_sustain", "ampeg_release", "loop_mode"}
REGION_READ |= {"group", "off_by", "seq_length", "seq_position", "lorand", "hirand", "region_label"}
# loop points come with the sample (its `smpl` chunk, else the loop finder): these are noted once
LOOP_FROM_SAMPLE = {"loop_start", "loop_end", "loop_crossfade", "loop_type", "loopstart", "loopend"}


# ---- writing --------------------------------------------------------------------------------


def kit_text(preset: Preset, samples: List[List[str]], zone_settings: List[List[SoundSettings]], rate: int) -> str:
    """The SFZ of a preset with zones; ``samples[z][k]``: the file of zone z's k-th sound (under
    default_path), ``zone_settings[z][k]``: what it plays with (its root, tune and loop)."""
    s = preset.sampler
    lines = ["// made by promptsynth: %s" % preset.name, "<control>", "default_path=", "", "<global>"]
    lines += sfz_voice(s)
    places = max((z.scan for z in preset.zones), default=0)
    for z, files, settings in zip(preset.zones, samples, zone_settings):
        n = len(files)
        for k, (sample, ss) in enumerate(zip(files, settings)):
            lines += ["", "<region>", "sample=%s" % sample]
            if z.name:
                lines.append("region_label=%s" % z.name)
            lines += ["lokey=%d" % z.lokey, "hikey=%d" % z.hikey, "lovel=%d" % z.lovel, "hivel=%d" % z.hivel]
            lines += ["pitch_keycenter=%d" % ss.root, "tune=%d" % int(round(ss.tune))]
            if z.gain:  # a region's volume replaces the global one: the two summed
                lines.append("volume=%.2f" % (s.gain + z.gain))
            if z.pan:
                lines.append("pan=%.1f" % z.pan)
            for key, scale in (("attack", 1e-3), ("decay", 1e-3), ("sustain", 100.0), ("release", 1e-3)):
                value = getattr(z, key)
                if value >= 0:
                    lines.append("ampeg_%s=%s" % (key, ("%.2f" if key == "sustain" else "%.4f") % (value * scale)))
            if z.mode == "one_shot":
                lines.append("loop_mode=one_shot")
            else:
                loop = loop_frames(ss, rate, int(round(ss.end * rate)))
                if loop is None:
                    lines.append("loop_mode=no_loop")
                else:
                    lines += ["loop_mode=loop_continuous", "loop_start=%d" % loop[1], "loop_end=%d" % (loop[2] - 1)]
                    lines.append("loop_crossfade=%.4f" % (ss.crossfade / 1000.0))
                    if loop[0] == "pingpong":
                        lines.append("loop_type=alternate")
            if z.group:
                lines += ["group=%d" % z.group, "off_by=%d" % z.group]
            if n > 1 and z.round_robin == "cycle":
                lines += ["seq_length=%d" % n, "seq_position=%d" % (k + 1)]
            elif n > 1:
                lines += ["lorand=%.4f" % (k / n), "hirand=%.4f" % ((k + 1) / n)]
            if z.scan and places > 1:
                lines += scan_opcodes(z.scan - 1, places)
    return "\n".join(lines) + "\n"


def scan_opcodes(place: int, places: int) -> List[str]:
    """A scan's place as SFZ's mod wheel crossfade: the region fades in over the CC 1 range from
    the place before to its own and out to the place after, at equal power."""
    at = [round(127 * i / (places - 1)) for i in range(places)]
    out = ["xf_cccurve=power"]
    if place > 0:
        out += ["xfin_locc1=%d" % at[place - 1], "xfin_hicc1=%d" % at[place]]
    if place < places - 1:
        out += ["xfout_locc1=%d" % at[place], "xfout_hicc1=%d" % at[place + 1]]
    return out


def export_kit(folder: str, stem: str, preset: Preset, library: SoundLibrary, overwrite: bool = False) -> List[str]:
    """Write ``stem``.sfz and its samples (in ``stem``_samples/, each a WAV with its `smpl` root
    and loop) into ``folder``; returns the paths. The .sfz already there raises Exists unless
    ``overwrite``."""
    from promptsynth.library.intake import zone_settings
    from promptsynth.library.sounds import Exists

    sfz_path = os.path.join(folder, stem + ".sfz")
    if os.path.lexists(sfz_path) and not overwrite:
        raise Exists("the export %s" % os.path.basename(sfz_path), sfz_path)
    sub = stem + "_samples"
    os.makedirs(os.path.join(folder, sub), exist_ok=True)
    written, samples, settings = [], [], []
    rate = 48000
    for i, z in enumerate(preset.zones, 1):
        files, ss_list = [], []
        for k, sid in enumerate(z.sounds, 1):
            audio, rate, meta = library.load(sid)
            ss = zone_settings(meta, preset.sampler, z)
            name = "%02d-%s-%d.wav" % (i, file_stem(z.name) if z.name else "zone", k)
            path = os.path.join(folder, sub, name)
            loop = loop_frames(ss, rate, len(audio)) if z.mode != "one_shot" else None
            atomic.write_bytes(path, wav_with_smpl(audio, rate, ss.root, ss.tune, loop))
            written.append(path)
            files.append("%s/%s" % (sub, name))
            ss_list.append(dataclasses.replace(ss, end=len(audio) / rate))
        samples.append(files)
        settings.append(ss_list)
    atomic.write_bytes(sfz_path, kit_text(preset, samples, settings, rate).encode("utf-8"))
    return [sfz_path] + written


# ---- reading --------------------------------------------------------------------------------


def note_number(value: str) -> int:
    """A key as SFZ writes it: a number (0-127) or a note name (c4 = 60, f#3, db5)."""
    v = value.strip().lower()
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    m = re.fullmatch(r"([a-g])([#b]?)(-?\d+)", v)
    if not m:
        raise ValueError("not a key: %r" % value)
    n = NOTE_NAMES[m.group(1)] + {"#": 1, "b": -1, "": 0}[m.group(2)] + (int(m.group(3)) + 1) * 12
    return n


def parse(text: str) -> Tuple[Dict[str, str], List[Dict[str, str]], Dict[str, str], Counter]:
    """(control, regions with their inherited opcodes, the global opcodes, headers ignored)."""
    control: Dict[str, str] = {}
    levels: Dict[str, Dict[str, str]] = {"global": {}, "master": {}, "group": {}}
    regions: List[Dict[str, str]] = []
    current: Optional[Dict[str, str]] = None
    ignored: Counter = Counter()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    for raw in text.splitlines():
        line = raw.split("//")[0]
        # headers and opcodes may share a line; a sample path may hold spaces up to the next opcode
        for tok in re.finditer(r"<(\w+)>|(\w+)=(.*?)(?=\s+\w+=|\s*<\w+>|$)", line):
            if tok.group(1):
                h = tok.group(1).lower()
                if h == "control":
                    current = control
                elif h in levels:
                    if h == "global":
                        levels["master"], levels["group"] = {}, {}
                    elif h == "master":
                        levels["group"] = {}
                    levels[h] = {}
                    current = levels[h]
                elif h == "region":
                    current = dict(levels["global"], **levels["master"], **levels["group"])
                    regions.append(current)
                else:
                    ignored["<%s>" % h] += 1
                    current = None
            elif current is not None:
                current[tok.group(2).lower()] = tok.group(3).strip()
    return control, regions, levels["global"], ignored


def sample_path(sfz_dir: str, default_path: str, sample: str) -> str:
    """The sample's file, which must lie inside the SFZ's folder (a USB stick's kit cannot reach
    out of it); raises LibraryError."""
    rel = (default_path + sample).replace("\\", "/")
    path = os.path.realpath(os.path.join(sfz_dir, rel))
    root = os.path.realpath(sfz_dir)
    if os.path.commonpath([root, path]) != root:
        raise LibraryError("sample %r lies outside the SFZ's folder: refused" % sample)
    return path


def _sec(v: str) -> float:
    return float(v) * 1000.0


def import_sfz(
    library: SoundLibrary, path: str, out_rate: int, base: SoundSettings, name: Optional[str] = None
) -> Tuple[Preset, List[str]]:
    """A preset with zones from an SFZ file, its samples imported into the library. Returns the
    preset (not saved) and a report: what was ignored, and why. Raises LibraryError for a file
    that gives no zone at all."""
    from promptsynth.library.intake import import_file

    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise LibraryError("cannot read %s: %s" % (path, e)) from None
    control, regions, glob, ignored_headers = parse(text)
    report: List[str] = []
    ignored: Counter = Counter()
    for h, n in ignored_headers.items():
        report.append("%s section ignored (%d)" % (h, n))
    sfz_dir = os.path.dirname(os.path.abspath(path))
    sampler = _global_settings(glob, base, ignored)
    groups: OrderedDict[Tuple, List[Tuple[float, Dict[str, Any], str]]] = OrderedDict()
    imported: Dict[str, str] = {}
    loop_note = False
    for n, r in enumerate(regions, 1):
        for k in r:
            if k in LOOP_FROM_SAMPLE:
                loop_note = True
            elif k not in REGION_READ and k not in GLOBAL_READ and k not in glob:
                ignored[k] += 1
        if "sample" not in r:
            report.append("region %d: no sample: skipped" % n)
            continue
        try:
            zone, order, key = _region_zone(r, glob, sampler)
            file = sample_path(sfz_dir, control.get("default_path", ""), r["sample"])
            if file not in imported:
                imported[file] = import_file(library, file, out_rate).id
        except (ValueError, LibraryError, OSError) as e:
            report.append("region %d (%s): %s: skipped" % (n, r.get("sample"), e))
            continue
        groups.setdefault(key, []).append((order, zone, imported[file]))
    zones = []
    for members in groups.values():
        members.sort(key=lambda m: m[0])
        if len(members) > MAX_ALTERNATES:
            report.append(
                "%s: %d alternates, the first %d kept"
                % (members[0][1]["name"] or "a zone", len(members), MAX_ALTERNATES)
            )
            members = members[:MAX_ALTERNATES]
        zone = dict(members[0][1], sounds=tuple(m[2] for m in members))
        zones.append(ZoneSettings(**zone))
    if len(zones) > MAX_ZONES:
        report.append("%d zones, the first %d kept" % (len(zones), MAX_ZONES))
        zones = zones[:MAX_ZONES]
    if not zones:
        raise LibraryError("%s: no region could be used (%s)" % (os.path.basename(path), "; ".join(report) or "none"))
    if loop_note:
        report.append("loop points: each sample's own loop (its smpl chunk, else the loop finder's) is used")
    for k, count in sorted(ignored.items()):
        report.append("opcode %s ignored (%d)" % (k, count))
    stem = name or os.path.splitext(os.path.basename(path))[0]
    return Preset(name=stem, sound=None, sampler=sampler, zones=zones), report


def _global_settings(glob: Dict[str, str], base: SoundSettings, ignored: Counter) -> SoundSettings:
    """The preset's settings from the <global> opcodes the reader takes."""
    ch: Dict[str, Any] = {}
    for k, v in glob.items():
        try:
            if k == "ampeg_attack":
                ch["attack"] = _sec(v)
            elif k == "ampeg_decay":
                ch["decay"] = _sec(v)
            elif k == "ampeg_sustain":
                ch["sustain"] = float(v) / 100.0
            elif k == "ampeg_release":
                ch["release"] = _sec(v)
            elif k == "amp_veltrack":
                ch["velocity_track"] = min(max(float(v), 0.0), 100.0)
            elif k == "volume":
                ch["gain"] = min(max(float(v), -60.0), 12.0)
            elif k == "polyphony":
                ch["polyphony"] = min(max(int(v), 1), 64)
            elif k == "bend_up":
                ch["bend_range"] = min(max(int(v) / 100.0, 0.0), 24.0)
            elif k not in ("bend_down", "sample") and k not in REGION_READ:
                ignored[k] += 1
        except ValueError:
            ignored[k] += 1
    return dataclasses.replace(base, **ch)


def _region_zone(
    r: Dict[str, str], glob: Dict[str, str], sampler: SoundSettings
) -> Tuple[Dict[str, Any], float, Tuple]:
    """A region's zone settings (sounds still to add), its place among alternates, and the key
    that says which regions are alternates of one zone."""
    own = {k: v for k, v in r.items() if glob.get(k) != v}  # what the region sets beyond <global>
    z: Dict[str, Any] = {"name": r.get("region_label", "")}
    if "key" in r:
        z["lokey"] = z["hikey"] = note_number(r["key"])
    z["lokey"] = note_number(r["lokey"]) if "lokey" in r else z.get("lokey", 0)
    z["hikey"] = note_number(r["hikey"]) if "hikey" in r else z.get("hikey", 127)
    z["lovel"] = max(int(r.get("lovel", 1)), 1)
    z["hivel"] = int(r.get("hivel", 127))
    center = r.get("pitch_keycenter", r.get("key"))
    root = note_number(center) if center is not None else 60
    z["root"] = min(max(root - int(r.get("transpose", 0)), 0), 127)
    if z["lokey"] == z["hikey"] == z["root"]:
        z["root"] = -1  # a pad that plays its sound as it is on its key
    z["tune"] = float(r.get("tune", 0))
    # a region's volume replaces the global one; the zone's gain is what it adds
    z["gain"] = float(own["volume"]) - float(glob.get("volume", 0.0)) if "volume" in own else 0.0
    z["pan"] = float(r.get("pan", 0.0))
    for key in ("attack", "decay", "release"):
        if "ampeg_" + key in own:
            z[key] = _sec(own["ampeg_" + key])
    if "ampeg_sustain" in own:
        z["sustain"] = float(own["ampeg_sustain"]) / 100.0
    mode = r.get("loop_mode", "")
    z["mode"] = "one_shot" if mode == "one_shot" else "normal"
    z["loop_mode"] = "off" if mode == "no_loop" else "auto"  # a loop: the sample's own
    group, off_by = int(r.get("group", 0)), int(r.get("off_by", 0))
    z["group"] = group if group and off_by == group else 0
    seq = int(r.get("seq_length", 1))
    order = float(r.get("seq_position", 1))
    z["round_robin"] = "cycle"
    if "lorand" in r or "hirand" in r:
        z["round_robin"] = "random"
        order = float(r.get("lorand", 0.0))
        seq = -1
    try:
        checked = from_mapping(ZoneSettings, z)  # the schema's types and ranges
    except ConfigError as e:
        raise ValueError(str(e)) from None
    wrong = [p for p in dataclasses.replace(checked, sounds=("-",)).problems()]
    if wrong:
        raise ValueError("; ".join(wrong))
    zone = dataclasses.asdict(checked)
    del zone["sounds"]
    alternates_of = (z["lokey"], z["hikey"], z["lovel"], z["hivel"], seq if seq > 1 or seq == -1 else ("one", id(r)))
    return zone, order, alternates_of


def is_sfz(path: str) -> bool:
    return path.lower().endswith(".sfz")
