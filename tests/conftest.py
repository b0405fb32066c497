import os
import shutil

import numpy as np
import pytest

from promptsynth.engine.sampler import Sampler, VoiceParams
from promptsynth.engine.sound import prepare

RATE = 48000
PERIOD = 128
RENDERER_ENV = "PROMPTSYNTH_TEST_RENDERER"  # which renderer make_sampler() builds (default: kernel)


@pytest.fixture(scope="session")
def rig():
    """A JACK dummy server plus ALSA taps, shared by the session (the real audio/MIDI paths)."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed: run scripts/test.sh, which installs jackd2")
    from promptsynth.bench.rig import Rig

    r = Rig(RATE, PERIOD)
    yield r
    r.close()


@pytest.fixture(params=["kernel", "numpy"])
def renderer(request, monkeypatch):
    """Runs a test once on each renderer: the compiled kernel and the numpy reference. The
    kernel must have loaded (it is built at install): a missing one fails, never falls back."""
    if request.param == "kernel":
        from promptsynth.engine import kernel

        assert kernel.load() is not None, kernel.load_error
    monkeypatch.setenv(RENDERER_ENV, request.param)
    return request.param


def make_sampler(polyphony=16, **params):
    p = dict(attack=0.0, decay=0.0, sustain=1.0, release=0.0, gain_db=0.0, velocity_track=0.0, polyphony=polyphony)
    p.update(params)
    return Sampler(RATE, PERIOD, VoiceParams(**p), max_polyphony=64, renderer=os.environ.get(RENDERER_ENV, "kernel"))


def render(s, periods):
    return np.concatenate([s.render().copy() for _ in range(periods)])


def sine(freq, seconds, amp=0.5, rate=RATE, harmonics=1):
    t = np.arange(int(seconds * rate)) / rate
    x = sum(amp / h * np.sin(2 * np.pi * freq * h * t) for h in range(1, harmonics + 1))
    return x.astype(np.float32)


def freq_of(x, rate=RATE):
    """Frequency of the strongest partial, refined by parabolic interpolation of the spectrum."""
    x = np.asarray(x, np.float64)
    w = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * w, n=len(x) * 4))
    k = int(np.argmax(spec[1:])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    k += 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / (len(x) * 4)


@pytest.fixture
def sampler_with():
    def make(audio, polyphony=16, sound_kw=None, **params):
        s = make_sampler(polyphony, **params)
        s.load(prepare(audio, **(sound_kw or {})))
        return s

    return make


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny AudioLDM 2 (the instrument's `tiny`) and AudioLDM 1 pipelines, saved once per session in
    diffusers layout (safetensors), plus a copy laid out like the published AudioLDM 2 checkpoints
    (language model stored as GPT2Model). Everything loads through the real loading code."""
    import torch  # a missing torch in the torch lane is an error, not a skip

    from promptsynth.generator.build import save_tiny, tiny_audioldm2

    root = tmp_path_factory.mktemp("models")
    paths = {"tiny": save_tiny(str(root / "tiny"))}
    # AudioLDM 1, from the configs of diffusers' former fast tests
    import tempfile

    from diffusers import AudioLDMPipeline, AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import ClapTextConfig, ClapTextModelWithProjection, SpeechT5HifiGan, SpeechT5HifiGanConfig

    from promptsynth.generator.build import roberta_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=32,
        in_channels=8,
        out_channels=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=(8, 16),
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=8,
        class_embeddings_concat=True,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16, 16],
        in_channels=1,
        out_channels=1,
        norm_num_groups=8,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        latent_channels=8,
    )
    text = ClapTextModelWithProjection(
        ClapTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            hidden_size=8,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=1,
            num_hidden_layers=1,
            pad_token_id=1,
            vocab_size=1000,
            projection_dim=8,
            max_position_embeddings=514,
        )
    )
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=64,
            sampling_rate=16000,
            upsample_initial_channel=32,
            upsample_rates=[5, 4, 2, 2, 2],
            upsample_kernel_sizes=[16, 16, 8, 4, 4],
            resblock_kernel_sizes=[3],
            resblock_dilation_sizes=[[1, 3]],
            normalize_before=False,
        )
    )
    tmp = tempfile.mkdtemp()
    p1 = AudioLDMPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=roberta_tokenizer(tmp),
        unet=unet,
        scheduler=DDIMScheduler(
            beta_start=0.0015, beta_end=0.0195, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False
        ),
        vocoder=vocoder,
    )
    paths["audioldm1"] = str(root / "audioldm1")
    p1.save_pretrained(paths["audioldm1"], safe_serialization=True)
    # published layout: the language model saved as GPT2Model
    from transformers import GPT2Model

    p2 = tiny_audioldm2(tmp)
    lm = p2.language_model
    if not isinstance(lm, GPT2Model):
        base = lm.transformer
        base.config.max_new_tokens = 8
        p2.register_modules(language_model=base)
    paths["published"] = str(root / "published")
    p2.save_pretrained(paths["published"], safe_serialization=True)
    import os

    lanes = os.environ.get("PROMPTSYNTH_LANE_MODELS")
    if lanes:  # scripts/test.sh: the other torch lanes load this folder (tests/test_generator.py)
        share = os.path.join(lanes, stack_name())
        shutil.rmtree(share, ignore_errors=True)
        shutil.copytree(paths["tiny"], os.path.join(share, "tiny"))
        np.save(os.path.join(share, "reference.npy"), lane_reference(os.path.join(share, "tiny")))
    return paths


def stack_name():
    """The Python and library versions of this lane, e.g. py3.8-torch2.1.0-diffusers0.35.2-transformers4.46.3."""
    import sys

    import diffusers
    import torch
    import transformers

    return "py%d.%d-torch%s-diffusers%s-transformers%s" % (
        sys.version_info[:2] + (torch.__version__.split("+")[0], diffusers.__version__, transformers.__version__)
    )


def lane_reference(path):
    """The sound every lane makes from a folder: 0.5 s, 3 steps, seed 7."""
    from promptsynth.generator.params import GenerationParams, validate
    from promptsynth.generator.pipeline import load
    from promptsynth.generator.runner import Runner

    p = validate(GenerationParams("a lane check", seconds=0.5, steps=3, seed=7))
    return Runner(load(path, "cpu"), "lane").generate(p).audio


# ---- shared scaffolding: config files, the running daemon, `run --sim` -------------------------


def write_config(path, **sections):
    """A TOML config at ``path``: a state dir beside it, no real-time requests (a test machine
    refuses them), plus ``sections`` ({"generate": {"steps": 3}}, ...)."""
    from promptsynth.config import _toml_value

    base = {"paths": {"state": str(path.parent / "state")}, "audio": {"rt_priority": 0, "lock_memory": False}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    lines = []
    for name, values in base.items():
        lines.append("[%s]" % name)
        lines += ["%s = %s" % (k, _toml_value(v)) for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def config_file(tmp_path):
    """``config_file(**sections)``: a config file in tmp_path (see write_config)."""
    return lambda **sections: write_config(tmp_path / "c.toml", **sections)


def step_until(d, pred, timeout):
    """Run the daemon's loop until ``pred()`` holds (True) or ``timeout`` passes (False): a wait
    for behaviour, with a bound generous enough for a busy machine."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        d.step()
        if pred():
            return True
    return bool(pred())


def step_for(d, seconds):
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        d.step()


class Instrument:
    """`promptsynth run` as a user starts it: a subprocess whose log lines a test reads."""

    def __init__(self, args, env=None):
        import subprocess
        import sys

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "promptsynth", "run"] + list(args),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines = []

    def read_until(self, pred, timeout):
        """Log lines until one satisfies ``pred``, the process ends, or ``timeout`` passes."""
        from test_cli import read_until

        got = read_until(self.proc, pred, timeout)
        self.lines += got
        return got

    @property
    def text(self):
        return "".join(self.lines)

    def stop(self, sig=None, timeout=30):
        """Signal it (SIGTERM by default) and wait; returns the exit code."""
        import signal

        self.proc.send_signal(sig or signal.SIGTERM)
        self.read_until(lambda ln: False, timeout)
        return self.proc.wait(timeout=5)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def run_instrument():
    """``run_instrument(*args, env=None)``: start `promptsynth run ARGS`; killed after the test."""
    started = []

    def start(*args, env=None):
        i = Instrument(args, env)
        started.append(i)
        return i

    yield start
    for i in started:
        i.kill()


class AudioWatch:
    """Watches the rig's paced ALSA tap from now on, under a note held throughout.

    ``check()``: the engine kept writing (at least half the frames real time allows: a dead or
    blocked engine writes none, while a busy machine's jackd may run a little slow) and no
    period of it was silent (a crash, a restart or a cut-off note would show as silence), and
    it is still the same engine process.
    """

    def __init__(self, rig, host):
        import time

        self.rig, self.host = rig, host
        self.pid, self.restarts = host.proc.pid, host.restarts
        self.f0, self.t0 = rig.tap_frames(), time.monotonic()

    def check(self):
        import time

        f1, t1 = self.rig.tap_frames(), time.monotonic()
        assert f1 - self.f0 >= 0.5 * (t1 - self.t0) * RATE, (f1 - self.f0, t1 - self.t0)
        x = self.rig.read_tap()[self.f0 : f1]
        loud = np.abs(x).max(axis=1)
        periods = loud[: len(loud) // PERIOD * PERIOD].reshape(-1, PERIOD).max(axis=1)
        assert periods.size > 0 and (periods > 0.01).all(), "silent periods: %d" % int((periods <= 0.01).sum())
        assert (self.host.proc.pid, self.host.restarts) == (self.pid, self.restarts)


@pytest.fixture
def capture(tmp_path, monkeypatch):
    """``capture(signal)``: an ALSA capture PCM, `rec_in`, that delivers ``signal`` ((frames,
    channels) int16) and then silence: ALSA's `file` plugin reading a file (`infile`) over
    `null`. Returns the PCM's name."""
    from promptsynth.sim import alsa_env

    def make(signal):
        raw = tmp_path / "in.raw"
        signal.astype("<i2").tofile(str(raw))
        rc = tmp_path / "asoundrc"
        rc.write_text('pcm.rec_in { type file; slave.pcm "null"; file "/dev/null"; infile "%s"; format "raw" }\n' % raw)
        for k, v in alsa_env(str(rc)).items():
            monkeypatch.setenv(k, v)
        return "rec_in"

    return make


def tiny_config(rig, tmp_path, tiny_models, **generate):
    """A config for the daemon on the rig's paced tap with the tiny model installed in a state
    folder of its own (``generate``: [generate] settings, e.g. seconds=1.0, steps=2)."""
    import shutil

    from promptsynth import config

    state = tmp_path / "state"
    os.makedirs(state / "models")
    shutil.copytree(tiny_models["tiny"], state / "models" / "tiny")
    cfg = config.replace(rig.config("tap_jack"), "paths", state=str(state))
    cfg = config.replace(cfg, "model", id="tiny", device="cpu", threads=1)
    return config.replace(cfg, "generate", **generate)


@pytest.fixture
def web(rig, tmp_path):
    """``web(**web_settings)``: a daemon on the rig with its web page on a free port (web_harness.py)."""
    from web_harness import daemons_with_web

    yield from daemons_with_web(rig, tmp_path)
