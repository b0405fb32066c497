"""The simulator's hardware: on a machine with no sound card or MIDI, a JACK dummy server
stands in for both (audio paced in real time through ALSA's jack plugin, MIDI on JACK ports).

Its state is the user's, never the service's: `$XDG_STATE_HOME/promptsynth` (else
`~/.local/state/promptsynth`) unless the config names a state directory other than the
service's `/var/lib/promptsynth`, so even root's simulator leaves the device's library alone.
Its temporary folder (jackd's log, the ALSA definitions, the audio tap) goes when it stops; one
left by a simulator that was killed is removed by the next one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from typing import Dict, Optional, Tuple

from promptsynth.config import Config, PathsConfig

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


JACK_REGISTRY = "/dev/shm/jack-shm-registry"
JACK_SERVERS, JACK_SERVER_AT, JACK_SERVER_SIZE = 8, 24, 264  # jack2's shm header: server[8] {pid, name}


def reclaim_jack_servers(path: str = JACK_REGISTRY) -> int:
    """Free the slots of JACK servers that died without unregistering (killed): jack2 reclaims a
    dead server's slot only when a server of the same name starts, and our servers have unique
    names, so 8 such deaths would stop every later server ("Too many servers already active").
    Returns how many slots were freed."""
    try:
        with open(path, "r+b") as fh:
            head = fh.read(JACK_SERVER_AT + JACK_SERVERS * JACK_SERVER_SIZE)
            if head[:4] != b"KCAJ":
                return 0
            freed = 0
            for i in range(JACK_SERVERS):
                at = JACK_SERVER_AT + i * JACK_SERVER_SIZE
                pid = int.from_bytes(head[at : at + 4], "little")
                if pid <= 0:
                    continue
                try:
                    os.kill(pid, 0)
                    continue  # alive (or not ours to signal): kept
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue
                fh.seek(at)
                fh.write(bytes(JACK_SERVER_SIZE))
                freed += 1
            return freed
    except OSError:
        return 0


class JackServer:
    """A `jackd --no-realtime -d dummy` server, started and stopped by us."""

    def __init__(self, rate: int = 48000, period: int = 128, name: Optional[str] = None, folder: Optional[str] = None):
        """``folder``: where its log goes (a new temporary folder if None); removed by stop()."""
        self.rate, self.period, self.name = rate, period, name
        self.proc: Optional[subprocess.Popen] = None
        self.dir = folder or tempfile.mkdtemp(prefix="psynth-jack-")
        self.log_path = os.path.join(self.dir, "jackd.log")

    def env(self) -> Dict[str, str]:
        return {"JACK_DEFAULT_SERVER": self.name} if self.name else {}

    def start(self, timeout: float = 10.0, retry: bool = True) -> None:
        exe = shutil.which("jackd")
        if exe is None:
            raise RuntimeError("jackd is not installed (apt-get install jackd2)")
        cmd = (
            [exe, "--no-realtime"]
            + (["-n", self.name] if self.name else [])
            + ["-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        )
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        os.makedirs(self.dir, exist_ok=True)  # stop() removed it: a server started again needs it
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
                why = open(self.log_path).read()
                if "Too many servers already active" in why and retry and reclaim_jack_servers():
                    log.warning("freed the slots of JACK servers that were killed; starting again")
                    return self.start(timeout, retry=False)
                raise RuntimeError("jackd exited: %s" % why[-500:])
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
        """Stop the server and remove its folder (the log, and whatever was put beside it)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
        log_fh = getattr(self, "_log", None)
        if log_fh is not None:
            log_fh.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def alsa_env(asoundrc_path: str) -> Dict[str, str]:
    """Environment that adds our PCM definitions after the system's own ALSA config."""
    return {"ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:" + asoundrc_path}


def user_state() -> str:
    """The user's state folder for promptsynth (XDG base directories: an absolute
    $XDG_STATE_HOME, else ~/.local/state)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the spec says ignore it
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "promptsynth")


def sim_state(configured: str) -> str:
    """Where the simulator keeps its state: the configured folder, unless that is the service's
    (the default) or cannot be written; then the user's."""
    path = os.path.abspath(os.path.expanduser(configured))
    service = os.path.abspath(PathsConfig().state)
    writable = os.access(path, os.W_OK) or (
        not os.path.exists(path) and os.access(os.path.dirname(path) or "/", os.W_OK)
    )
    return user_state() if path == service or not writable else configured


SIM_PREFIX = "psynth-sim-"


def remove_stale_folders() -> int:
    """Remove the temporary folders of simulators that are no longer running (killed before
    they could clean up): named psynth-sim-<pid>-..., kept while that process lives."""
    n = 0
    tmp = tempfile.gettempdir()
    try:
        names = os.listdir(tmp)
    except OSError:
        return 0
    for fn in names:
        m = re.match(re.escape(SIM_PREFIX) + r"(\d+)-", fn)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            shutil.rmtree(os.path.join(tmp, fn), ignore_errors=True)
            n += 1
    return n


def prepare(cfg: Config) -> Tuple[Config, Dict[str, str], Optional[JackServer]]:
    """Adjust ``cfg`` for the simulator; start a JACK dummy server where there is no hardware.
    The server's stop() removes the simulator's temporary folder."""
    env: Dict[str, str] = {}
    jack = None
    audio, midi = cfg.audio, cfg.midi
    state = sim_state(cfg.paths.state)
    log.info("simulator: state in %s", state)
    need_jack = not has_sound_card() or not has_alsa_seq()
    if need_jack:
        remove_stale_folders()
        d = tempfile.mkdtemp(prefix="%s%d-" % (SIM_PREFIX, os.getpid()))
        jack = JackServer(audio.rate, audio.period, name="promptsynth-sim-%d" % os.getpid(), folder=d)
        try:
            jack.start()
        except BaseException:
            jack.stop()  # its folder too
            raise
        env.update(jack.env())
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
