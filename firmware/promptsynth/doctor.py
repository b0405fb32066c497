"""`promptsynth doctor`: every part checked, each with pass, warn or fail and the fix.

Runs on a laptop too: what is missing there is reported as what the simulator stands in for.
It never changes anything.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import sys
from dataclasses import asdict, dataclass
from typing import List, Optional

from promptsynth import config as config_mod

PASS, WARN, FAIL = "pass", "warn", "fail"

# newest diffusers that imports with the Jetson torch wheels (0.32 needs torch.float8_e4m3fn, 0.36 torch.xpu)
DIFFUSERS_FOR_TORCH = {"2.0": "0.31.0", "2.1": "0.35.2"}


@dataclass
class Check:
    part: str
    status: str
    detail: str
    fix: str = ""


def _version_tuple(v: str):
    out = []
    for piece in v.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


def check_audio(cfg) -> List[Check]:
    out = []
    try:
        import alsaaudio
    except ImportError as e:
        return [Check("audio", FAIL, "pyalsaaudio missing (%s)" % e, "pip install pyalsaaudio (needs libasound2-dev)")]
    cards = alsaaudio.cards()
    if cards:
        out.append(Check("alsa cards", PASS, ", ".join(cards)))
    else:
        out.append(
            Check(
                "alsa cards",
                WARN,
                "no sound card found",
                "plug in the USB audio interface (`aplay -l` lists cards); `run --sim` uses a JACK dummy "
                "server instead",
            )
        )
    from promptsynth.hw.alsa_out import AlsaOutput

    a = cfg.audio
    o = AlsaOutput(a.device, a.rate, a.period, a.periods, a.format)
    if o.try_open():
        out.append(
            Check(
                "audio device",
                PASS,
                "%s opens: %s, %d Hz, period %d, buffer %d" % (a.device, o.format, a.rate, a.period, o.buffer_frames),
            )
        )
        o.close()
    else:
        out.append(
            Check(
                "audio device",
                FAIL,
                "%s does not open: %s" % (a.device, o.error),
                "set [audio] device to a PCM from `aplay -L` (e.g. plughw:CARD=Device); the instrument "
                "retries every second meanwhile",
            )
        )
    return out


def check_midi(cfg) -> List[Check]:
    """The ports the instrument would open, by the same rule it uses ([midi] port "" = every
    hardware port; software reaches it through its virtual port)."""
    try:
        from promptsynth.hw.rtmidi_in import MidiInput

        m = MidiInput(cfg.midi.api, cfg.midi.port, virtual=False, client="promptsynth-doctor")
    except ImportError as e:
        return [Check("midi", FAIL, "python-rtmidi missing (%s)" % e, "pip install python-rtmidi")]
    if cfg.midi.api == "alsa" and not os.path.exists("/dev/snd/seq"):
        return [
            Check(
                "midi",
                WARN,
                "no ALSA sequencer (/dev/snd/seq)",
                "load snd-seq (`modprobe snd-seq`); `run --sim` uses JACK MIDI instead",
            )
        ]
    try:
        if not m.start():
            return [Check("midi", FAIL, m.error, "check [midi] api")]
        wanted, others = m.ports()
    except Exception as e:  # rtmidi, JACK-Client: whatever they raise is the finding
        return [Check("midi", FAIL, "%s MIDI unavailable: %s" % (cfg.midi.api, e), "check [midi] api")]
    finally:
        m.close()
    if wanted:
        return [Check("midi ports", PASS, ", ".join(wanted))]
    what = "no port matches %r" % cfg.midi.port if cfg.midi.port else "no hardware MIDI port"
    return [
        Check(
            "midi ports",
            WARN,
            "%s (other ports: %s)" % (what, ", ".join(others) or "none"),
            "plug in the keyboard (picked up within 2 s while the instrument runs); software plays "
            "through the virtual port `promptsynth`",
        )
    ]


def check_panel(cfg) -> List[Check]:
    p = cfg.panel
    out = []
    if p.display in ("ssd1306", "sh1106"):
        node = "/dev/i2c-%d" % p.i2c_bus
        if not os.path.exists(node):
            out.append(
                Check(
                    "display",
                    WARN,
                    "%s missing" % node,
                    "enable I2C bus %d (header pins 3/5 on AGX Xavier are bus 8); without it the panel "
                    "stays dark and the sound is unaffected" % p.i2c_bus,
                )
            )
        elif not os.access(node, os.R_OK | os.W_OK):
            out.append(Check("display", FAIL, "%s not accessible" % node, "add the user to the i2c group"))
        else:
            out.append(Check("display", PASS, "%s present (address 0x%02X)" % (node, p.i2c_address)))
    else:
        out.append(Check("display", PASS, "%s (simulated or off)" % p.display))
    if p.gpio == "jetson":
        chip = "/dev/gpiochip0"
        if not os.path.exists(chip):
            out.append(Check("gpio", WARN, "%s missing: not a Jetson" % chip, 'on a laptop set [panel] gpio = "none"'))
        elif not os.access(chip, os.R_OK | os.W_OK):
            out.append(Check("gpio", FAIL, "%s not accessible" % chip, "add the user to the gpio group (udev rules)"))
        else:
            out.append(Check("gpio", PASS, "%s accessible" % chip))
    return out


def check_keyboard(cfg) -> List[Check]:
    """The USB keyboard the panel grabs (optional unless [panel] keyboard names one)."""
    want = cfg.panel.keyboard
    try:
        import evdev
    except ImportError as e:
        return [Check("keyboard", FAIL if want else WARN, "evdev missing (%s)" % e, "pip install evdev")]
    found, refused = [], []
    for path in evdev.list_devices():
        try:
            d = evdev.InputDevice(path)
        except OSError as e:
            refused.append("%s (%s)" % (path, e.strerror))
            continue
        if evdev.ecodes.KEY_A in d.capabilities().get(evdev.ecodes.EV_KEY, []):
            found.append(d.name)
        d.close()
    match = [n for n in found if want.lower() in n.lower()]
    if match:
        return [Check("keyboard", PASS, ", ".join(match))]
    if refused:
        return [
            Check(
                "keyboard",
                FAIL,
                "input devices not readable: %s" % ", ".join(refused[:3]),
                "add the user to the input group (the service's SupplementaryGroups has it)",
            )
        ]
    status = FAIL if want else WARN
    return [
        Check(
            "keyboard",
            status,
            "no keyboard%s found (keyboards: %s)" % (" matching %r" % want if want else "", ", ".join(found) or "none"),
            "plug in the USB keyboard (it is picked up within 2 s while the instrument runs)%s; without one "
            "the encoders spell prompts" % ("" if not want else ", or change [panel] keyboard"),
        )
    ]


def check_renderer(cfg) -> List[Check]:
    """Which renderer the engine will play through, and why not the kernel where it cannot."""
    from promptsynth.engine.renderers import choose

    which, warning = choose(cfg.audio.renderer, cfg.audio.period)
    if which == "kernel":
        return [Check("renderer", PASS, "compiled render kernel")]
    if not warning:
        return [Check("renderer", PASS, "numpy reference renderer ([audio] renderer = numpy)")]
    return [
        Check(
            "renderer",
            WARN,
            warning,
            "install a C compiler (apt-get install build-essential) and reinstall promptsynth, which "
            "builds the kernel; the numpy renderer plays the same sound with less headroom",
        )
    ]


def check_running(cfg) -> List[Check]:
    """What the running instrument says of its parts (the health file it keeps up to date)."""
    import json
    import time

    from promptsynth.daemon.health import health_path

    paths = [health_path(config_mod.state_dir(cfg)), "/run/promptsynth/health.json"]
    for path in paths:
        try:
            with open(path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        age = time.time() - float(data.get("time", 0))
        if not os.path.exists("/proc/%d" % int(data.get("pid", 0) or 0)):
            return [Check("running", PASS, "the instrument is not running (it last wrote %s %.0f s ago)" % (path, age))]
        bad = {k: v for k, v in data.get("parts", {}).items() if v.get("state") in ("failed", "absent")}
        if not bad:
            return [Check("running", PASS, "every part working (last change %.0f s ago)" % age)]
        return [
            Check(
                "running",
                WARN,
                "%s (last change %.0f s ago)"
                % ("; ".join("%s %s: %s" % (k, v["state"], v["detail"]) for k, v in bad.items()), age),
                "see the checks above for each part's fix; the instrument retries each by itself",
            )
        ]
    return [Check("running", PASS, "the instrument is not running (no health file)")]


def check_model(cfg) -> List[Check]:
    out = []
    if importlib.util.find_spec("torch") is None:
        return [
            Check(
                "torch",
                FAIL,
                "torch is not installed: no generator (the sampler still plays)",
                "install NVIDIA's JetPack torch wheel (scripts/install-jetson.sh does)",
            )
        ]
    import torch

    tv = torch.__version__
    cuda = torch.cuda.is_available()
    out.append(
        Check(
            "torch",
            PASS if cuda or cfg.model.device == "cpu" else WARN,
            "torch %s, CUDA %s" % (tv, "available: " + torch.cuda.get_device_name(0) if cuda else "absent"),
            "" if cuda else "on the Jetson use NVIDIA's torch wheel; elsewhere generation runs on the CPU",
        )
    )
    try:
        import diffusers
        import transformers

        dv, trv = diffusers.__version__, transformers.__version__
        major_minor = ".".join(tv.split(".")[:2])
        limit = DIFFUSERS_FOR_TORCH.get(major_minor)
        if limit and _version_tuple(dv) > _version_tuple(limit):
            out.append(
                Check(
                    "diffusers",
                    FAIL,
                    "diffusers %s does not import with torch %s (newest: %s)" % (dv, tv, limit),
                    "pip install 'diffusers<=%s'" % limit,
                )
            )
        elif sys.version_info < (3, 9) and _version_tuple(trv) > (4, 46, 3):
            out.append(
                Check("transformers", FAIL, "transformers %s on Python 3.8" % trv, "pip install transformers==4.46.3")
            )
        else:
            out.append(Check("diffusers", PASS, "diffusers %s, transformers %s fit torch %s" % (dv, trv, tv)))
    except ImportError as e:
        out.append(Check("diffusers", FAIL, "missing: %s" % e, "pip install diffusers transformers"))
    from promptsynth.generator.models import is_installed, model_dir, not_installed_message

    try:
        path = model_dir(cfg.model.id, config_mod.state_dir(cfg))
    except Exception as e:
        return out + [Check("model", FAIL, str(e), "set [model] id")]
    if cfg.model.id == "tiny":
        out.append(Check("model", PASS, "tiny (built on first use, random weights)"))
    elif is_installed(path):
        out.append(Check("model", PASS, "%s installed in %s" % (cfg.model.id, path)))
    else:
        out.append(Check("model", FAIL, "%s not installed" % cfg.model.id, not_installed_message(cfg.model.id)))
    return out


def check_system(cfg) -> List[Check]:
    out = []
    state = config_mod.state_dir(cfg)
    probe = state
    while not os.path.exists(probe):
        probe = os.path.dirname(probe) or "/"
    if not os.access(probe, os.W_OK):
        out.append(
            Check(
                "state dir",
                FAIL,
                "%s is not writable" % state,
                "StateDirectory= in the unit creates it; or set [paths] state",
            )
        )
    else:
        free = shutil.disk_usage(probe).free / 2**30
        out.append(
            Check(
                "state dir",
                PASS if free >= 2 else WARN,
                "%s writable, %.1f GiB free" % (state, free),
                "" if free >= 2 else "free some space: a model takes 4-6 GiB, a sound up to 11 MB",
            )
        )
    rt = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    if os.geteuid() == 0 or rt == resource.RLIM_INFINITY or rt >= cfg.audio.rt_priority:
        out.append(Check("real-time", PASS, "SCHED_FIFO %d allowed" % cfg.audio.rt_priority))
    else:
        out.append(
            Check(
                "real-time",
                WARN,
                "RLIMIT_RTPRIO %d < %d" % (rt, cfg.audio.rt_priority),
                "LimitRTPRIO=95 in the unit, or the audio group's limits",
            )
        )
    ml = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    if os.geteuid() == 0 or ml == resource.RLIM_INFINITY:
        out.append(Check("memory lock", PASS, "unlimited"))
    else:
        out.append(
            Check("memory lock", WARN, "RLIMIT_MEMLOCK %d kB" % (ml // 1024), "LimitMEMLOCK=infinity in the unit")
        )
    gov = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
    try:
        g = open(gov).read().strip()
        out.append(
            Check(
                "cpu governor",
                PASS if g == "performance" else WARN,
                g,
                "" if g == "performance" else "sudo jetson_clocks (or set the governor to performance)",
            )
        )
    except OSError:
        out.append(Check("cpu governor", WARN, "not readable (a VM or container?)", "nothing to do off the device"))
    return out


def check_network(cfg) -> List[Check]:
    """The web page and OSC: off, or on with a password (the page) and a list of senders (OSC)."""
    from promptsynth.web.auth import check_hash

    out = []
    w, o = cfg.web, cfg.osc
    if not w.enabled:
        out.append(Check("web", PASS, "off (nothing listens)"))
    else:
        why = check_hash(w.password_hash)
        where = "http://%s:%d" % (w.host, w.port)
        out.append(
            Check("web", FAIL, "%s: %s" % (where, why), "promptsynth web password, then [web] password_hash")
            if why
            else Check("web", PASS, "%s, password set%s" % (where, ", kiosk" if w.kiosk or cfg.panel.kiosk else ""))
        )
    if not o.enabled:
        out.append(Check("osc", PASS, "off (nothing listens)"))
    else:
        out.append(Check("osc", PASS, "udp %s:%d, obeys %s" % (o.host, o.port, ", ".join(o.allow) or "nobody")))
    return out


CHECKS = (
    check_audio,
    check_renderer,
    check_midi,
    check_panel,
    check_keyboard,
    check_model,
    check_system,
    check_network,
    check_running,
)


def run(cfg_path: Optional[str] = None) -> List[Check]:
    # libasound prints its own error lines (two dozen for a missing card) to stderr, under the
    # table; each check reports what matters itself. The instrument silences it the same way.
    from promptsynth.hw.alsa_out import quiet_alsa_lib

    try:
        quiet_alsa_lib()
    except Exception:  # no libasound here: nothing to silence
        pass
    errors = config_mod.errors_in(cfg_path)
    if errors:  # every one at once: fixing a device's config one start at a time is slow
        fix = "fix the key named; `promptsynth config example` shows every key"
        return [Check("config", FAIL, e, fix) for e in errors]
    cfg, where = config_mod.load(cfg_path)
    checks = [Check("config", PASS, where)]
    for part in CHECKS:
        try:
            checks.extend(part(cfg))
        except Exception as e:  # a check that breaks is itself a finding
            checks.append(Check(part.__name__[6:], FAIL, "check failed: %s" % e))
    return checks


def as_json(checks: List[Check]) -> List[dict]:
    return [asdict(c) for c in checks]
