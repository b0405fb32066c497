"""The simulator's hardware: on a machine with no sound card or MIDI, a JACK dummy server
stands in for both (audio paced in real time through ALSA's jack plugin, MIDI on JACK ports).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import subprocess
import tempfile
import time
from typing import Dict, Optional, Tuple

from promptsynth.config import Config

log = logging.getLogger("sim")

ASOUNDRC = """\
pcm.promptsynth_sim {{ type jack; playback_ports {{ 0 system:playback_1 1 system:playback_2 }} }}
pcm.promptsynth_sim_tap {{ type file; slave.pcm "promptsynth_sim"; file "{tap}"; format "raw" }}
"""


def has_sound_card() -> bool:
    try:
        with open("/proc/asound/cards") as fh:
            return "no soundcards" not in fh.read()
    except OSError:
        return False


def has_alsa_seq() -> bool:
    return os.path.exists("/dev/snd/seq")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started us dies (even by SIGKILL),
    so a killed simulator leaves no JACK server behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class JackServer:
    """A `jackd --no-realtime -d dummy` server, started and stopped by us."""

    def __init__(self, rate: int = 48000, period: int = 128, name: Optional[str] = None):
        self.rate, self.period, self.name = rate, period, name
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = os.path.join(tempfile.mkdtemp(prefix="psynth-jack-"), "jackd.log")

    def env(self) -> Dict[str, str]:
        return {"JACK_DEFAULT_SERVER": self.name} if self.name else {}

    def start(self, timeout: float = 10.0) -> None:
        exe = shutil.which("jackd")
        if exe is None:
            raise RuntimeError("jackd is not installed (apt-get install jackd2)")
        cmd = (
            [exe, "--no-realtime"]
            + (["-n", self.name] if self.name else [])
            + ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        )
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("jackd exited: %s" % open(self.log_path).read()[-500:])
            if self._lsp_ok():
                return
            time.sleep(0.1)
        raise RuntimeError("jackd did not start within %.0f s" % timeout)

    def _lsp_ok(self) -> bool:
        exe = shutil.which("jack_lsp")
        if exe is None:  # cannot ask: give the server a moment instead
            time.sleep(1.0)
            return True
        env = dict(os.environ, **self.env())
        r = subprocess.run([exe], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=5)
        return r.returncode == 0 and b"system:playback_1" in r.stdout

    def xruns(self) -> int:
        try:
            return open(self.log_path).read().count("XRun")
        except OSError:
            return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


def alsa_env(asoundrc_path: str) -> Dict[str, str]:
    """Environment that adds our PCM definitions after the system's own ALSA config."""
    return {"ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:" + asoundrc_path}


def prepare(cfg: Config) -> Tuple[Config, Dict[str, str], Optional[JackServer]]:
    """Adjust ``cfg`` for the simulator; start a JACK dummy server where there is no hardware."""
    env: Dict[str, str] = {}
    jack = None
    audio, midi = cfg.audio, cfg.midi
    state = cfg.paths.state
    if not os.access(os.path.dirname(os.path.abspath(state)) or "/", os.W_OK) and not os.access(state, os.W_OK):
        state = os.path.join(os.path.expanduser("~"), ".local", "state", "promptsynth")
    need_jack = not has_sound_card() or not has_alsa_seq()
    if need_jack:
        jack = JackServer(audio.rate, audio.period, name="promptsynth-sim-%d" % os.getpid())
        jack.start()
        env.update(jack.env())
        d = tempfile.mkdtemp(prefix="psynth-sim-")
        rc = os.path.join(d, "asoundrc")
        with open(rc, "w") as fh:
            fh.write(ASOUNDRC.format(tap=os.path.join(d, "out.raw")))
        env.update(alsa_env(rc))
        if not has_sound_card():
            audio = dataclasses.replace(audio, device="promptsynth_sim", format="FLOAT_LE")
            log.info(
                "simulator: no sound card, audio goes to a JACK dummy server (tap: %s)", os.path.join(d, "out.raw")
            )
        if not has_alsa_seq():
            midi = dataclasses.replace(midi, api="jack")
            log.info("simulator: no ALSA sequencer, MIDI on JACK (virtual port 'promptsynth')")
    midi = dataclasses.replace(midi, virtual=True)
    paths = dataclasses.replace(cfg.paths, state=state)
    model = dataclasses.replace(cfg.model, id="tiny")  # no download, runs on any CPU
    # the OLED in a window where there is a screen, else PNG frames in <state>/panel
    shown = "window" if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") else "capture"
    panel = dataclasses.replace(cfg.panel, display=shown, gpio="none")
    log.info("simulator: panel display %s", shown)
    return dataclasses.replace(cfg, audio=audio, midi=midi, paths=paths, model=model, panel=panel), env, jack
