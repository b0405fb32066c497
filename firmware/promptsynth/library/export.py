"""Taking sounds to other samplers and bringing files in: WAV with a `smpl` chunk, and SFZ.

`smpl` (RIFF WAV sampler chunk): a 36-byte header (manufacturer, product, sample period in ns,
MIDI unity note, pitch fraction, SMPTE format and offset, loop count, sampler data size), then
24 bytes a loop (id, type 0 forward / 1 alternating, start, end inclusive, fraction, play count).
python-soundfile has no public API for it, so it is written and read here with `struct`.
"""

from __future__ import annotations

import io
import math
import os
import struct
from typing import Dict, List, Optional, Tuple, TypedDict

import numpy as np

from promptsynth.config import SoundSettings
from promptsynth.engine.filter import damping as filter_damping
from promptsynth.library import atomic

LOOP_TYPES = {"forward": 0, "pingpong": 1}


def smpl_chunk(rate: int, unity: int, fraction: float, loops: List[Tuple[str, int, int]]) -> bytes:
    """``loops``: (mode, start, end exclusive) in frames."""
    body = struct.pack(
        "<9I", 0, 0, int(round(1e9 / rate)), unity, int(fraction * 2**32) & 0xFFFFFFFF, 0, 0, len(loops), 0
    )
    for i, (mode, start, end) in enumerate(loops):
        body += struct.pack("<6I", i, LOOP_TYPES.get(mode, 0), start, end - 1, 0, 0)
    return b"smpl" + struct.pack("<I", len(body)) + body


def wav_with_smpl(
    audio: np.ndarray,
    rate: int,
    root: int,
    tune_cents: float,
    loop: Optional[Tuple[str, int, int]] = None,
    subtype: str = "PCM_24",
) -> bytes:
    """A WAV file whose `smpl` chunk carries the root note, the fine tune and the loop.

    The chunk describes the recording's pitch: the sampler plays ``root`` corrected by
    ``tune_cents``, so the recording sits at root − tune/100 semitones.
    """
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, dtype=np.float32), rate, subtype=subtype, format="WAV")
    data = bytearray(buf.getvalue())
    pitch = root - tune_cents / 100.0
    unity = int(math.floor(pitch + 1e-9))
    fraction = min(max(pitch - unity, 0.0), 0.999999)
    chunk = smpl_chunk(rate, unity, fraction, [loop] if loop else [])
    data += chunk
    struct.pack_into("<I", data, 4, len(data) - 8)  # RIFF size
    return bytes(data)


class SmplLoop(TypedDict):
    mode: str  # "forward" or "pingpong"
    start: int
    end: int  # exclusive


class Smpl(TypedDict):
    unity: int  # the root note
    cents: float
    loops: List[SmplLoop]


def read_smpl(path: str) -> Optional[Smpl]:
    """The `smpl` chunk of a WAV file: root, cents and loops (end exclusive); None if absent."""
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        while True:
            h = fh.read(8)
            if len(h) < 8:
                return None
            cid, size = h[:4], struct.unpack("<I", h[4:])[0]
            if cid != b"smpl":
                fh.seek(size + (size & 1), 1)
                continue
            body = fh.read(size)
            if len(body) < 36:
                return None
            (_, _, _, unity, frac, _, _, count, _) = struct.unpack("<9I", body[:36])
            loops: List[SmplLoop] = []
            for i in range(count):
                off = 36 + 24 * i
                if off + 24 > len(body):
                    break
                _, typ, start, end, _, _ = struct.unpack("<6I", body[off : off + 24])
                loops.append({"mode": "pingpong" if typ == 1 else "forward", "start": start, "end": end + 1})
            cents = frac / 2**32 * 100.0
            return {"unity": unity, "cents": cents, "loops": loops}


def loop_frames(s: SoundSettings, rate: int, frames: int) -> Optional[Tuple[str, int, int]]:
    """(mode, start, end) of the loop in frames (end exclusive; 0 = the whole sound), or None."""
    if s.loop_mode not in ("forward", "pingpong"):
        return None
    return s.loop_mode, int(round(s.loop_start * rate)), int(round(s.loop_end * rate)) or frames


def sfz_text(sample: str, s: SoundSettings, frames: int, rate: int) -> str:
    """An SFZ region for one sample with a preset's sound settings."""
    start = int(round(s.start * rate))
    end = int(round(s.end * rate)) or frames
    lines = [
        "// made by promptsynth",
        "<control>",
        "default_path=",
        "",
        "<region>",
        "sample=%s" % sample,
        "lokey=0",
        "hikey=127",
        "pitch_keycenter=%d" % s.root,
        "tune=%d" % int(round(s.tune)),
        "offset=%d" % start,
        "end=%d" % (min(end, frames) - 1),
    ]
    loop = loop_frames(s, rate, frames)
    if loop is not None:
        lines += [
            "loop_mode=loop_continuous",
            "loop_start=%d" % loop[1],
            "loop_end=%d" % (loop[2] - 1),
            "loop_crossfade=%.4f" % (s.crossfade / 1000.0),
        ]
        if loop[0] == "pingpong":
            lines.append("loop_type=alternate")
    else:
        lines.append("loop_mode=no_loop")
    lines += sfz_voice(s)
    return "\n".join(lines) + "\n"


def sfz_voice(s: SoundSettings) -> List[str]:
    """What a preset sets for every note: envelope, level, velocity tracking, bend, polyphony,
    and its filter, LFO and effect sends (a region's, or a kit's <global>)."""
    bend = int(round(s.bend_range * 100))
    lines = [
        "ampeg_attack=%.4f" % (s.attack / 1000.0),
        "ampeg_decay=%.4f" % (s.decay / 1000.0),
        "ampeg_sustain=%.2f" % (s.sustain * 100.0),
        "ampeg_release=%.4f" % (s.release / 1000.0),
        "amp_veltrack=%.1f" % s.velocity_track,
        "volume=%.2f" % s.gain,
        "bend_up=%d" % bend,
        "bend_down=%d" % -bend,
        "polyphony=%d" % s.polyphony,
    ]
    return lines + sfz_filter(s) + sfz_lfo(s) + sfz_effects(s)


def sfz_effects(s: SoundSettings) -> List[str]:
    """The reverb and chorus levels as the region's sends to SFZ's effect buses (effect1:
    reverb, effect2: chorus, in percent; the player's own effects then play them). The delay has
    no such opcode and is left out."""
    lines = []
    if s.reverb_mix:
        lines.append("effect1=%.1f" % s.reverb_mix)
    if s.chorus_mix:
        lines.append("effect2=%.1f" % s.chorus_mix)
    return lines


SFZ_LFO_WAVES = {"triangle": 0, "sine": 1, "square": 3, "sample_hold": 12}  # SFZ v2 lfoN_wave


def sfz_lfo(s: SoundSettings) -> List[str]:
    """The LFO as SFZ v2's lfo01 (none when it moves nothing). How the mod wheel and channel
    pressure scale its depths has no plain opcode and is left out."""
    if not (s.lfo_pitch or s.lfo_cutoff or s.lfo_level):
        return []
    lines = [
        "lfo01_wave=%d" % SFZ_LFO_WAVES[s.lfo_wave],
        "lfo01_freq=%.3f" % s.lfo_rate,
        "lfo01_delay=%.4f" % (s.lfo_delay / 1000.0),
        "lfo01_fade=%.4f" % (s.lfo_fade / 1000.0),
    ]
    if s.lfo_pitch:
        lines.append("lfo01_pitch=%d" % int(round(s.lfo_pitch)))
    if s.lfo_cutoff:
        lines.append("lfo01_cutoff=%d" % int(round(s.lfo_cutoff)))
    if s.lfo_level:
        lines.append("lfo01_amplitude=%d" % int(round(s.lfo_level)))
    return lines


SFZ_FILTER_TYPES = {"lp12": "lpf_2p", "bp12": "bpf_2p", "hp12": "hpf_2p", "lp24": "lpf_4p"}


def sfz_filter(s: SoundSettings) -> List[str]:
    """The filter's opcodes (none when it is off). SFZ gives resonance as the peak's height in dB
    (0-40); ours is the damping's setting in percent, so it is converted through the peak a
    2-pole low-pass has at that damping (20 log10 Q, 0 where there is no peak, 40 at the most)."""
    if s.filter_type == "off":
        return []
    k = filter_damping(s.resonance / 100.0)
    peak_db = 40.0 if k <= 0.01 else min(max(20.0 * math.log10(1.0 / k), 0.0), 40.0)
    return [
        "fil_type=%s" % SFZ_FILTER_TYPES[s.filter_type],
        "cutoff=%.1f" % s.cutoff,
        "resonance=%.1f" % peak_db,
        "fil_keytrack=%d" % int(round(s.filter_keytrack)),  # percent: cents a key
        "fil_keycenter=60",
        "fil_veltrack=%d" % int(round(s.filter_veltrack)),
        "fileg_depth=%d" % int(round(s.filter_env_depth)),
        "fileg_attack=%.4f" % (s.filter_attack / 1000.0),
        "fileg_decay=%.4f" % (s.filter_decay / 1000.0),
        "fileg_sustain=%.2f" % (s.filter_sustain * 100.0),
        "fileg_release=%.4f" % (s.filter_release / 1000.0),
    ]


def parse_sfz(text: str) -> Dict[str, str]:
    """opcode=value pairs of an SFZ text (one region), for tests and for re-import."""
    out = {}
    for line in text.splitlines():
        line = line.split("//")[0].strip()
        if "=" in line and not line.startswith("<"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def export(
    folder: str, stem: str, audio: np.ndarray, rate: int, s: SoundSettings, overwrite: bool = False
) -> Tuple[str, str]:
    """Write ``stem``.wav (with `smpl`) and ``stem``.sfz into ``folder``; returns both paths.
    Either file already there raises :class:`~promptsynth.library.sounds.Exists` (before anything
    is written) unless ``overwrite``."""
    from promptsynth.library.sounds import Exists

    wav = os.path.join(folder, stem + ".wav")
    sfz = os.path.join(folder, stem + ".sfz")
    for path in (wav, sfz):
        if os.path.lexists(path) and not overwrite:
            raise Exists("the export %s" % os.path.basename(path), path)
    os.makedirs(folder, exist_ok=True)
    atomic.write_bytes(wav, wav_with_smpl(audio, rate, s.root, s.tune, loop_frames(s, rate, len(audio))))
    atomic.write_bytes(sfz, sfz_text(stem + ".wav", s, len(audio), rate).encode("utf-8"))
    return wav, sfz
