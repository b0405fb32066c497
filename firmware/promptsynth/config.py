"""The instrument's configuration: one TOML file, every key documented here with its default.

Each section is a dataclass; each field carries its documentation and its bounds in
``metadata``, so validation, the shipped example file (``config/promptsynth.toml``) and the
docs come from one place.  An unknown key or a bad value raises :class:`ConfigError` naming
the key, because a typo in a kiosk's config must stop the start-up loudly, not be ignored.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.8-3.10 (JetPack 5 ships 3.8)
    import tomli as tomllib

DEFAULT_PATH = "/etc/promptsynth/config.toml"


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key."""


def _key(default, doc, lo=None, hi=None, choices=None):
    return field(default=default, metadata={"doc": doc, "min": lo, "max": hi, "choices": choices})


# how a prompt and its negative condition the model (generator/runner.py): "padded" encodes each
# at its own length; "stock" as diffusers does (the negative cut to the prompt's T5 length)
CONDITIONINGS = ("padded", "stock")
# where the denoising timesteps lie; "model": as the checkpoint's scheduler config says
SPACINGS = ("trailing", "linspace", "leading", "model")
RENDERERS = ("auto", "kernel", "numpy")  # engine/renderers.py picks one by name
FILTER_TYPES = ("off", "lp12", "bp12", "hp12", "lp24")  # engine/filter.py's order
LFO_WAVES = ("sine", "triangle", "square", "sample_hold")  # engine/lfo.py's order
# the delay synced to MIDI clock: a note length, and its length in quarter notes ("." dotted,
# "t" triplet)
DELAY_SYNC_BEATS = {
    "1/2": 2.0,
    "1/4.": 1.5,
    "1/4": 1.0,
    "1/4t": 2.0 / 3.0,
    "1/8.": 0.75,
    "1/8": 0.5,
    "1/8t": 1.0 / 3.0,
    "1/16": 0.25,
}
DELAY_SYNC = ("off",) + tuple(DELAY_SYNC_BEATS)


@dataclass(frozen=True)
class AudioConfig:
    device: str = _key("default", "ALSA PCM to play through (`hw:1,0`, `plughw:CARD=Device`, `default`, ...).")
    rate: int = _key(48000, "Output sample rate in Hz.", 22050, 192000)
    period: int = _key(128, "Frames per period: the engine renders one period at a time.", 16, 4096)
    periods: int = _key(3, "Periods in the ALSA buffer (latency = period x periods).", 2, 16)
    format: str = _key(
        "S16_LE", "Sample format asked for; the device may negotiate another.", choices=("S16_LE", "S32_LE", "FLOAT_LE")
    )
    rt_priority: int = _key(70, "SCHED_FIFO priority for the engine process (0 = do not ask).", 0, 99)
    lock_memory: bool = _key(True, "Lock the engine's memory (mlockall) so it never pages.")
    capture_device: str = _key(
        "", 'ALSA PCM to record from, a line or mic input (`hw:1,0`, ...; "" = no input: recording is off).'
    )
    capture_channels: int = _key(2, "Channels to record: 1 (mono) or 2 (stereo).", 1, 2)
    record_max: float = _key(30.0, "Longest recording in seconds.", 1.0, 120.0)
    record_count_in: float = _key(
        3.0, "Seconds counted in before recording starts (the meter shows the level).", 0.0, 8.0
    )
    record_trim_db: float = _key(
        -50.0, "A recording's start and end quieter than this, below its peak, are cut.", -90.0, -10.0
    )
    renderer: str = _key(
        "auto",
        "What renders the voices: `kernel` (compiled, built at install), `numpy` (the reference: the "
        "same sound, slower) or `auto` (the kernel where it loads; the engine warns when it cannot).",
        choices=RENDERERS,
    )


@dataclass(frozen=True)
class MidiConfig:
    api: str = _key("alsa", "rtmidi API: `alsa` (sequencer, the device) or `jack`.", choices=("alsa", "jack"))
    port: str = _key(
        "",
        'Open every input port whose name contains this text ("" = every hardware port: ALSA '
        "kernel clients, JACK physical ports); software plays through the virtual port, and a port "
        "already connected to it is never opened too.",
    )
    virtual: bool = _key(True, "Also open a virtual input port named `promptsynth`.")
    channel: int = _key(0, "MIDI channel to listen to, 1-16 (0 = omni).", 0, 16)
    program_channel: int = _key(
        0,
        "MIDI channel whose Program Change selects the N-th preset of the bank (CC0/CC32 Bank Select picks "
        "the bank), 1-16; 0 = Program Change is ignored.",
        0,
        16,
    )


@dataclass(frozen=True)
class SoundSettings:
    """How a sound plays: the [sampler] keys every preset carries (points in seconds).

    The one schema for these settings: the config file, presets, the panel's pages and the
    engine all take their names, defaults, ranges and choices from here.
    """

    root: int = _key(60, "MIDI note at which the sound plays at its recorded pitch.", 0, 127)
    tune: float = _key(0.0, "Fine tune in cents.", -1200.0, 1200.0)
    polyphony: int = _key(16, "Voices that can sound at once.", 1, 64)
    bend_range: float = _key(2.0, "Pitch-bend range in semitones, up and down.", 0.0, 24.0)
    start: float = _key(0.0, "Start point in seconds from the beginning of the sound.", 0.0, 3600.0)
    end: float = _key(0.0, "End point in seconds (0 = the end of the sound).", 0.0, 3600.0)
    loop_mode: str = _key(
        "auto",
        "`auto` (the sound's own loop if it has one, else off), `off`, `forward`, `pingpong`.",
        choices=("auto", "off", "forward", "pingpong"),
    )
    loop_start: float = _key(
        0.0, "Loop start in seconds (with loop_end 0: the sound's own loop, else the start point).", 0.0, 3600.0
    )
    loop_end: float = _key(0.0, "Loop end in seconds (0 = the sound's own loop end, else the end point).", 0.0, 3600.0)
    crossfade: float = _key(10.0, "Loop crossfade in milliseconds.", 0.0, 1000.0)
    attack: float = _key(2.0, "Envelope attack in milliseconds.", 0.0, 20000.0)
    decay: float = _key(200.0, "Envelope decay in milliseconds.", 0.0, 20000.0)
    sustain: float = _key(1.0, "Envelope sustain level, 0-1.", 0.0, 1.0)
    release: float = _key(
        300.0, "Envelope release in milliseconds (at least 2 ms are always used, against clicks).", 0.0, 20000.0
    )
    gain: float = _key(-6.0, "Master gain in dB before the soft limiter.", -60.0, 12.0)
    velocity_track: float = _key(
        100.0, "Velocity sensitivity in percent (SFZ amp_veltrack: 100 = gain (v/127)^2).", 0.0, 100.0
    )
    vibrato_rate: float = _key(5.5, "Vibrato (mod wheel) rate in Hz.", 0.1, 20.0)
    vibrato_depth: float = _key(50.0, "Vibrato depth in cents with the mod wheel fully up.", 0.0, 1200.0)
    filter_type: str = _key(
        "off",
        "Per-voice filter: `off`, `lp12`, `bp12`, `hp12` (12 dB an octave) or `lp24` (24 dB low-pass).",
        choices=FILTER_TYPES,
    )
    cutoff: float = _key(20000.0, "Filter cutoff in Hz (at key 60, velocity 0, the envelope at 0).", 20.0, 20000.0)
    resonance: float = _key(
        0.0, "Filter resonance in percent (0 = no peak, 100 = it self-oscillates; CC71 adds to it).", 0.0, 100.0
    )
    filter_keytrack: float = _key(
        0.0, "Cutoff key tracking in percent (100 = the cutoff doubles an octave up from key 60).", -100.0, 200.0
    )
    filter_veltrack: float = _key(
        0.0, "Cutoff change in cents at velocity 127 (SFZ fil_veltrack; scaled by velocity).", -9600.0, 9600.0
    )
    filter_env_depth: float = _key(
        0.0, "Filter envelope amount in cents of cutoff at its peak (SFZ fileg_depth).", -9600.0, 9600.0
    )
    filter_attack: float = _key(0.0, "Filter envelope attack in milliseconds.", 0.0, 20000.0)
    filter_decay: float = _key(0.0, "Filter envelope decay in milliseconds.", 0.0, 20000.0)
    filter_sustain: float = _key(1.0, "Filter envelope sustain level, 0-1.", 0.0, 1.0)
    filter_release: float = _key(300.0, "Filter envelope release in milliseconds.", 0.0, 20000.0)
    lfo_wave: str = _key(
        "sine",
        "LFO shape (one LFO a voice, started at its note-on): `sine`, `triangle`, `square`, `sample_hold`.",
        choices=LFO_WAVES,
    )
    lfo_rate: float = _key(5.0, "LFO rate in Hz.", 0.05, 40.0)
    lfo_delay: float = _key(0.0, "LFO delay after the note-on in milliseconds.", 0.0, 10000.0)
    lfo_fade: float = _key(0.0, "LFO fade-in after its delay in milliseconds.", 0.0, 10000.0)
    lfo_pitch: float = _key(0.0, "LFO depth on pitch in cents (up and down).", 0.0, 1200.0)
    lfo_cutoff: float = _key(0.0, "LFO depth on the filter cutoff in cents (up and down).", 0.0, 9600.0)
    lfo_level: float = _key(0.0, "LFO depth on the level in percent (100 = down to silence).", 0.0, 100.0)
    lfo_modwheel: float = _key(
        0.0, "How much the LFO's depths wait for the mod wheel, in percent (100 = none until it moves).", 0.0, 100.0
    )
    lfo_aftertouch: float = _key(
        0.0, "LFO depth added by channel pressure at its full, in percent of the depths set.", 0.0, 100.0
    )
    aftertouch_cutoff: float = _key(
        0.0, "Filter cutoff change in cents at full channel pressure (aftertouch).", -9600.0, 9600.0
    )
    chorus_mix: float = _key(0.0, "Chorus level in percent (0 = off: bypassed).", 0.0, 100.0)
    chorus_rate: float = _key(0.8, "Chorus sweep rate in Hz.", 0.05, 5.0)
    chorus_depth: float = _key(50.0, "Chorus sweep depth in percent (100 = 2-12 ms).", 0.0, 100.0)
    delay_mix: float = _key(0.0, "Delay (echo) level in percent (0 = off: bypassed).", 0.0, 100.0)
    delay_time: float = _key(375.0, "Delay time in milliseconds (a change glides there).", 10.0, 2000.0)
    delay_sync: str = _key(
        "off",
        "Delay time as a note length at the MIDI clock's tempo (`1/8`, `1/8.` dotted, `1/8t` triplet, ...), "
        "while a clock arrives; `off`, or no clock: delay_time.",
        choices=DELAY_SYNC,
    )
    delay_feedback: float = _key(35.0, "Delay feedback in percent: how much of each echo echoes again.", 0.0, 95.0)
    reverb_mix: float = _key(0.0, "Reverb level in percent (0 = off: bypassed).", 0.0, 100.0)
    reverb_size: float = _key(60.0, "Reverb room size in percent (the tail's length).", 0.0, 100.0)
    reverb_damping: float = _key(50.0, "Reverb damping in percent (how fast the tail darkens).", 0.0, 100.0)


MAX_ZONES = 32  # zones a preset holds (engine/zones.py)
MAX_ALTERNATES = 4  # sounds a zone plays in turn (round robin)
MAX_SCAN = 16  # places in a scan (a morph series on the mod wheel)
ROUND_ROBIN = ("cycle", "random")
ZONE_MODES = ("normal", "one_shot")


@dataclass(frozen=True)
class ZoneSettings:
    """One zone of a preset that plays several sounds: a kit's pad, a layer, a key or velocity
    range. The preset's own settings (filter, LFO, effects, polyphony, and the envelope where a
    zone says -1) apply to every zone."""

    name: str = _key("", "The zone's name (a kit's pad: kick, snare ...).")
    sounds: tuple = _key((), "Library ids of the zone's sound and its alternates (1-4), played in turn.")
    lokey: int = _key(0, "Lowest key the zone plays on.", 0, 127)
    hikey: int = _key(127, "Highest key the zone plays on.", 0, 127)
    lovel: int = _key(1, "Lowest velocity the zone plays at.", 1, 127)
    hivel: int = _key(127, "Highest velocity the zone plays at.", 1, 127)
    root: int = _key(
        -1, "Key at which the sound plays at its own pitch (-1: a one-key zone's key, else its analysed root).", -1, 127
    )
    tune: float = _key(0.0, "Fine tune in cents.", -1200.0, 1200.0)
    attack: float = _key(-1.0, "Attack in milliseconds (-1: the preset's).", -1.0, 20000.0)
    decay: float = _key(-1.0, "Decay in milliseconds (-1: the preset's).", -1.0, 20000.0)
    sustain: float = _key(-1.0, "Sustain level 0-1 (-1: the preset's).", -1.0, 1.0)
    release: float = _key(-1.0, "Release in milliseconds (-1: the preset's).", -1.0, 20000.0)
    gain: float = _key(0.0, "Zone gain in dB.", -60.0, 12.0)
    pan: float = _key(0.0, "Pan in percent (-100 = left, 100 = right; equal power).", -100.0, 100.0)
    mode: str = _key(
        "normal", "`normal`, or `one_shot`: the note-off is ignored and the sound plays to its end.", choices=ZONE_MODES
    )
    group: int = _key(0, "Choke group (0 = none): a note in a group cuts its group's sounding notes.", 0, 64)
    round_robin: str = _key(
        "cycle", "Alternates in turn (`cycle`) or at random, never twice running.", choices=ROUND_ROBIN
    )
    scan: int = _key(
        0,
        "Place in a scan, 1-16 (0 = none): zones with places are one series over the same keys, and the "
        "mod wheel picks where a new note plays, the two nearest places crossfaded at equal power.",
        0,
        MAX_SCAN,
    )
    loop_mode: str = _key(
        "auto",
        "`auto` (the sound's own loop, if any), `off`, `forward`, `pingpong`.",
        choices=("auto", "off", "forward", "pingpong"),
    )

    def problems(self) -> List[str]:
        """What is wrong across keys (each key's own range is checked by the schema)."""
        out = []
        if not 1 <= len(self.sounds) <= MAX_ALTERNATES:
            out.append("a zone has 1 to %d sounds, not %d" % (MAX_ALTERNATES, len(self.sounds)))
        if self.lokey > self.hikey:
            out.append("lokey %d is above hikey %d" % (self.lokey, self.hikey))
        if self.lovel > self.hivel:
            out.append("lovel %d is above hivel %d" % (self.lovel, self.hivel))
        return out


@dataclass(frozen=True)
class SamplerConfig(SoundSettings):
    sound: str = _key("", 'WAV or FLAC file to play at start-up ("" = the built-in init sound).')


@dataclass(frozen=True)
class ModelConfig:
    id: str = _key(
        "audioldm2",
        "Model to generate with: audioldm2, audioldm2-large, audioldm2-music, "
        "audioldm-s-full-v2, audioldm-m-full, audioldm-l-full, tiny (random, for tests), or a local "
        "directory in diffusers layout.",
    )
    device: str = _key(
        "auto",
        "Where the model runs: `auto` (cuda if present), `cuda` (fp16) or `cpu` (fp32).",
        choices=("auto", "cuda", "cpu"),
    )
    threads: int = _key(0, "CPU threads for torch (0 = torch's default).", 0, 64)
    nice: int = _key(
        10,
        "How far below the daemon the generator's process runs (0-19): the daemon's own work (the "
        "panel, feeding the engine) comes first; the engine runs in real time in any case.",
        0,
        19,
    )


@dataclass(frozen=True)
class GenerateConfig:
    negative: str = _key("low quality, average quality, noise, high pitch, artefacts", "Default negative prompt.")
    seconds: float = _key(5.12, "Default length in seconds (multiples of 0.32 s suit the model best).", 0.5, 30.0)
    steps: int = _key(25, "Default denoising steps (DPM-Solver reaches in about 25 what DDIM does in 200).", 1, 500)
    guidance: float = _key(3.5, "Default guidance scale (the listening study liked 4 to 5 best).", 1.0, 10.0)
    scheduler: str = _key("dpm", "Default scheduler: `dpm` (DPM-Solver multistep) or `ddim`.", choices=("dpm", "ddim"))
    candidates: int = _key(1, "Default number of candidates, ranked best first by CLAP.", 1, 4)
    conditioning: str = _key(
        "padded",
        "How the prompt and the negative prompt condition the model: `padded` (each encoded at its own "
        "length) or `stock` (as diffusers does, which cuts the negative to the prompt's length).",
        choices=CONDITIONINGS,
    )
    spacing: str = _key(
        "trailing",
        "Where the denoising steps lie: `trailing` (the first step at the last training timestep), "
        "`linspace`, `leading`, or `model` (as the checkpoint's scheduler config says).",
        choices=SPACINGS,
    )
    series_play: str = _key(
        "modwheel",
        "How a morph series plays: `modwheel` (a scan: the wheel picks where a note plays, neighbours "
        "crossfaded) or `velocity` (soft notes the first prompt's end, hard notes the last).",
        choices=("modwheel", "velocity"),
    )
    round_robin: bool = _key(
        False,
        "With several candidates, keep them all as alternates of one zone, played in turn (round robin), "
        "instead of the best alone.",
    )
    timeout: float = _key(600.0, "A job that runs longer than this many seconds is ended.", 10.0, 7200.0)
    queue: int = _key(4, "Jobs that may wait behind the running one.", 1, 32)
    max_prompt_chars: int = _key(1000, "Longest prompt accepted, in characters.", 10, 10000)


@dataclass(frozen=True)
class PanelConfig:
    display: str = _key(
        "ssd1306",
        "Display: `ssd1306` or `sh1106` (I2C OLED), `window` (the simulator's), `pygame`, "
        "`capture` (PNG frames), `gif`, `dummy`, `none`.",
        choices=("ssd1306", "sh1106", "window", "pygame", "capture", "gif", "dummy", "none"),
    )
    i2c_bus: int = _key(8, "I2C bus of the OLED (8 = pins 3/5 on the AGX Xavier header).", 0, 31)
    i2c_address: int = _key(60, "I2C address of the OLED (60 = 0x3C).", 3, 119)
    fps: float = _key(20.0, "Most redraws a second (only on change).", 1.0, 60.0)
    capture_dir: str = _key("", 'Folder for `capture`/`gif` frames ("" = <state>/panel).')
    gpio: str = _key("jetson", "Encoders and buttons: `jetson` (Jetson.GPIO) or `none`.", choices=("jetson", "none"))
    encoder1_a: int = _key(29, "Board pin of encoder 1 (select), line A.", 1, 40)
    encoder1_b: int = _key(31, "Board pin of encoder 1, line B.", 1, 40)
    encoder2_a: int = _key(33, "Board pin of encoder 2 (value), line A.", 1, 40)
    encoder2_b: int = _key(35, "Board pin of encoder 2, line B.", 1, 40)
    button1: int = _key(37, "Board pin of encoder 1's push button.", 1, 40)
    button2: int = _key(38, "Board pin of encoder 2's push button.", 1, 40)
    keyboard: str = _key("", 'USB keyboard to grab, by name substring ("" = the first keyboard found).')
    keymap: str = _key("us", "Keyboard layout.", choices=("us",))
    kiosk: bool = _key(
        False,
        "Kiosk mode: a visitor may type, generate, cancel, play, load presets and shape the envelope; "
        "everything else is locked until the operator unlocks (docs/design.md, Kiosk mode).",
    )
    prompt_limit: int = _key(200, "Longest prompt the panel accepts in kiosk mode, in characters.", 10, 10000)
    idle_timeout: float = _key(
        300.0, "Kiosk: seconds without input before the attract preset returns (0 = never).", 0.0, 86400.0
    )
    attract: str = _key(
        "factory/Init pad",
        "Kiosk: the preset (BANK/NAME) the idle return restores, with every setting it does not state "
        'at its default ("" = the Init sound).',
    )
    kiosk_pin: str = _key(
        "", 'Kiosk: the operator\'s PIN, typed on the System page followed by Enter ("" = no PIN unlock).'
    )
    kiosk_unlock_hold: float = _key(
        8.0, "Kiosk: seconds both encoder buttons are held to unlock, or to lock again (0 = no hold unlock).", 0.0, 60.0
    )
    kiosk_unlock_timeout: float = _key(
        120.0, "Kiosk: an unlocked panel locks again after this many seconds without input.", 10.0, 86400.0
    )


@dataclass(frozen=True)
class LibraryConfig:
    keep_sounds: int = _key(
        50,
        "Kiosk mode ([panel] kiosk): after each generated sound is stored, keep only the newest this "
        "many generated sounds that no preset uses and delete older ones (sounds a preset or the "
        "current state plays, factory presets' sounds and imported sounds are always kept), so the "
        "disk holds at most this many visitor sounds (up to 11 MB each: 30 s of 48 kHz stereo "
        "float). 0 = keep every sound. Outside kiosk mode nothing is ever deleted by itself.",
        0,
        100000,
    )


BACKENDS = ("local", "remote", "auto")  # where sounds are made (generator/backends.py)


@dataclass(frozen=True)
class GeneratorConfig:
    backend: str = _key(
        "local",
        "Where sounds are made: `local` (this instrument's model), `remote` (a generation server, "
        "`promptsynth serve`, at `url`) or `auto` (the server while it answers, else the local model).",
        choices=BACKENDS,
    )
    url: str = _key("", "The generation server's address, e.g. `https://gen.example:8443` (with `remote` or `auto`).")
    token: str = _key("", "This instrument's API token for the server (`promptsynth serve token NAME` makes one).")
    connect_timeout: float = _key(3.0, "Seconds to wait for the server to answer a connection.", 0.5, 60.0)
    stall_timeout: float = _key(
        20.0,
        "Seconds a remote job may go without news from the server before it counts as lost (the "
        "network cut): `auto` then makes it locally.",
        2.0,
        600.0,
    )
    retry: float = _key(
        30.0, "After the server failed to answer, `auto` uses the local model this many seconds first.", 1.0, 3600.0
    )


@dataclass(frozen=True)
class ServerConfig:
    host: str = _key("127.0.0.1", "Address the generation server listens on (`0.0.0.0`: every interface).")
    port: int = _key(8000, "Its HTTP port.", 1, 65535)
    models: tuple = _key(("audioldm2",), "The models it serves, one deployment each (ids as in [model] id).")
    replicas: int = _key(1, "Replicas of each model's deployment (each holds one resident pipeline).", 1, 64)
    gpus_per_replica: float = _key(1.0, "GPUs each replica takes (0: runs on CPU, as in tests).", 0.0, 8.0)
    cpus_per_replica: float = _key(1.0, "CPUs each replica takes.", 0.0, 64.0)
    device: str = _key(
        "auto", "Where the replicas run their model: `auto`, `cuda` or `cpu`.", choices=("auto", "cuda", "cpu")
    )
    max_batch: int = _key(
        4, "At most this many compatible jobs (same model, length, steps...) share one pipeline call.", 1, 32
    )
    batch_wait_ms: float = _key(50.0, "How long a replica waits for more jobs to fill a batch.", 0.0, 2000.0)
    queue: int = _key(16, "Jobs that may wait for each model beyond those running; more are told to retry.", 1, 1024)
    tokens: tuple = _key(
        (),
        "Who may use it: `name:sha256` per instrument, as `promptsynth serve token NAME` prints them "
        "(the token itself is never stored here).",
    )
    max_body_mb: float = _key(
        8.0, "Largest request body accepted, in MB (a sound-to-sound source is the big one).", 0.1, 256.0
    )
    keep_results_s: float = _key(
        600.0, "Finished jobs' results are kept this long for their instrument to fetch.", 10.0, 86400.0
    )
    ray_address: str = _key(
        "", "A running Ray cluster to join (`auto`, or `HOST:PORT`); empty: start one on this machine."
    )


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = _key(False, "Serve the web page (web/): off unless turned on here.")
    host: str = _key("0.0.0.0", "Address it listens on (`0.0.0.0`: every interface; `127.0.0.1`: this machine only).")
    port: int = _key(8080, "Its HTTP port.", 1, 65535)
    password_hash: str = _key(
        "", "The page's password, hashed (`promptsynth web password` sets it); empty: the page does not start."
    )
    kiosk: bool = _key(
        False, "Hide and refuse what deletes or changes (delete, rename, upload, settings); on with [panel] kiosk too."
    )
    session_hours: float = _key(12.0, "A login lasts this long without use.", 0.1, 720.0)
    max_upload_mb: float = _key(100.0, "Largest file an upload may be, in MB.", 1.0, 2048.0)
    max_uploads: int = _key(50, "Uploads a session may make in an hour.", 1, 10000)


@dataclass(frozen=True)
class OscConfig:
    enabled: bool = _key(False, "Listen for OSC (web/osc.py) on UDP: off unless turned on here.")
    host: str = _key("0.0.0.0", "Address it listens on (`0.0.0.0`: every interface).")
    port: int = _key(9000, "Its UDP port.", 1, 65535)
    allow: tuple = _key(
        ("127.0.0.1",),
        "Senders it obeys (IP addresses); others are ignored and counted. OSC has no password: list "
        "the stage's tablets and laptops.",
    )
    reply_port: int = _key(0, "Send replies to this port of the sender (0: the port the message came from).", 0, 65535)


@dataclass(frozen=True)
class PathsConfig:
    state: str = _key("/var/lib/promptsynth", "State directory: sounds, presets, the last state.")


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    midi: MidiConfig = field(default_factory=MidiConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    panel: PanelConfig = field(default_factory=PanelConfig)
    library: LibraryConfig = field(default_factory=LibraryConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    web: WebConfig = field(default_factory=WebConfig)
    osc: OscConfig = field(default_factory=OscConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


SECTIONS: Dict[str, type] = {
    "audio": AudioConfig,
    "midi": MidiConfig,
    "sampler": SamplerConfig,
    "model": ModelConfig,
    "generate": GenerateConfig,
    "panel": PanelConfig,
    "library": LibraryConfig,
    "generator": GeneratorConfig,
    "server": ServerConfig,
    "web": WebConfig,
    "osc": OscConfig,
    "paths": PathsConfig,
}


def _check_value(section: str, f: dataclasses.Field, value: Any) -> Any:
    name = "[%s] %s" % (section, f.name)
    want = type(f.default)
    if want is bool:
        if not isinstance(value, bool):
            raise ConfigError("%s: must be true or false, got %r" % (name, value))
    elif want is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("%s: must be a whole number, got %r" % (name, value))
    elif want is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError("%s: must be a number, got %r" % (name, value))
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError("%s: must be a finite number, got %r" % (name, value))
    elif want is str:
        if not isinstance(value, str):
            raise ConfigError("%s: must be text, got %r" % (name, value))
        if "\x00" in value:
            raise ConfigError("%s: must not contain NUL characters" % name)
    elif want is tuple:  # a list of names
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v and "\x00" not in v for v in value):
            raise ConfigError("%s: must be a list of names, got %r" % (name, value))
        value = tuple(value)
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError("%s: must be one of %s, got %r" % (name, ", ".join(meta["choices"]), value))
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and value < lo or hi is not None and value > hi:
        raise ConfigError("%s: must be between %s and %s, got %r" % (name, lo, hi, value))
    return value


def _collect(data: Dict[str, Any], errors: List[str]) -> Config:
    """Build the config from a parsed TOML document, appending a message to ``errors`` for every
    bad section, key and value (the bad ones take their defaults meanwhile)."""
    sections = {}
    for sname, values in data.items():
        cls = SECTIONS.get(sname)
        if cls is None:
            errors.append("[%s]: unknown section (known: %s)" % (sname, ", ".join(SECTIONS)))
            continue
        if not isinstance(values, dict):
            errors.append("[%s]: must be a table of keys" % sname)
            continue
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in fields:
                errors.append("[%s] %s: unknown key (known: %s)" % (sname, key, ", ".join(fields)))
                continue
            try:
                kwargs[key] = _check_value(sname, fields[key], value)
            except ConfigError as e:
                errors.append(str(e))
        sections[sname] = cls(**kwargs)
    return Config(**sections)


def from_dict(data: Dict[str, Any]) -> Config:
    """Validate a parsed TOML document and build the config; raises ConfigError naming the key
    (the first bad one; :func:`errors_in` lists them all)."""
    errors: List[str] = []
    cfg = _collect(data, errors)
    if errors:
        raise ConfigError(errors[0])
    return cfg


def loads(text: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("not valid TOML: %s" % e) from None
    return from_dict(data)


def _read(path: Optional[str]) -> Tuple[Optional[str], str]:
    """The text of ``path`` (or the default path, which may be absent: then None)."""
    explicit = path is not None
    path = path or DEFAULT_PATH
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigError("%s: no such config file" % path) from None
        return None, path
    except OSError as e:
        raise ConfigError("%s: cannot read config: %s" % (path, e.strerror)) from None
    try:
        return raw.decode("utf-8"), path
    except UnicodeDecodeError:
        raise ConfigError("%s: not UTF-8 text" % path) from None


def load(path: Optional[str] = None) -> Tuple[Config, str]:
    """Load ``path`` (or the default path, which may be absent: then the defaults apply).

    Returns the config and a one-line description of where it came from.
    """
    text, path = _read(path)
    if text is None:
        return Config(), "defaults (no %s)" % path
    try:
        return loads(text), path
    except ConfigError as e:
        raise ConfigError("%s: %s" % (path, e)) from None


def errors_in(path: Optional[str] = None) -> List[str]:
    """Every problem of a config file at once (each naming its key), for `doctor` and `config
    check`: fixing them one start at a time is slow on a device. Empty when it loads."""
    try:
        text, path = _read(path)
    except ConfigError as e:
        return [str(e)]
    if text is None:
        return []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return ["%s: not valid TOML: %s" % (path, e)]
    errors: List[str] = []
    _collect(data, errors)
    return ["%s: %s" % (path, e) for e in errors]


def replace(cfg: Config, section: str, **changes: Any) -> Config:
    """A copy of ``cfg`` with keys of one section changed (validated like the file)."""
    return dataclasses.replace(cfg, **{section: updated(getattr(cfg, section), **changes)})


def _section_of(cls: type) -> str:
    for name, c in SECTIONS.items():
        if issubclass(c, cls):
            return name
    if cls is ZoneSettings:  # a preset's zones: not a section of the config file
        return "zone"
    raise KeyError(cls)


def _field(cls: type, key: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == key:
            return f
    raise ConfigError("[%s] %s: unknown key" % (_section_of(cls), key))


def bounds(cls: type, key: str) -> Tuple[Any, Any]:
    """A key's (min, max) from the schema (None where it has none)."""
    meta = _field(cls, key).metadata
    return meta.get("min"), meta.get("max")


def choices(cls: type, key: str) -> Tuple[str, ...]:
    """A key's choices from the schema (empty where it takes any text or number)."""
    return tuple(_field(cls, key).metadata.get("choices") or ())


def check(cls: type, key: str, value: Any) -> Any:
    """``value`` checked against the schema of one key (a number made float where the key is);
    raises ConfigError naming the key, as for the config file."""
    return _check_value(_section_of(cls), _field(cls, key), value)


def updated(obj: Any, **changes: Any) -> Any:
    """A copy of a settings dataclass with keys changed, each checked against the schema."""
    cls = type(obj)
    return dataclasses.replace(obj, **{k: check(cls, k, v) for k, v in changes.items()})


def from_mapping(cls: type, values: Dict[str, Any]) -> Any:
    """A settings dataclass from a mapping (a preset file): unknown keys are dropped (a newer or
    older file), known ones are checked; missing ones take their defaults."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: check(cls, k, v) for k, v in values.items() if k in names})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, (tuple, list)):  # a list of names
        return "[%s]" % ", ".join(_toml_value(v) for v in value)
    return repr(value)


def example_toml() -> str:
    """The documented default config file, generated from the dataclasses above."""
    out = [
        "# promptsynth configuration (TOML). Every key is shown with its default value.",
        "# Unknown keys and out-of-range values are errors that name the key.",
        "",
    ]
    for sname, cls in SECTIONS.items():
        out.append("[%s]" % sname)
        for f in dataclasses.fields(cls):
            meta = f.metadata
            doc = meta["doc"]
            if meta.get("min") is not None:
                doc += " Range %s to %s." % (meta["min"], meta["max"])
            out.append("# " + doc)
            out.append("%s = %s" % (f.name, _toml_value(f.default)))
        out.append("")
    return "\n".join(out)


def state_dir(cfg: Config) -> str:
    return os.path.expanduser(cfg.paths.state)
