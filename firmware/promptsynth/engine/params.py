"""The engine's voice parameters, from the sound settings a user edits (one mapping, one place)."""

from __future__ import annotations

from typing import Dict

from promptsynth.config import SoundSettings
from promptsynth.engine.sampler import VoiceParams

# sound setting -> VoiceParams field (the engine names gain by its unit)
VOICE_KEYS = {
    "attack": "attack",
    "decay": "decay",
    "sustain": "sustain",
    "release": "release",
    "gain": "gain_db",
    "velocity_track": "velocity_track",
    "bend_range": "bend_range",
    "vibrato_rate": "vibrato_rate",
    "vibrato_depth": "vibrato_depth",
    "polyphony": "polyphony",
}


def voice_changes(s: SoundSettings) -> Dict[str, object]:
    """Every voice parameter of ``s``, named as the engine's SetParams takes them."""
    return {engine: getattr(s, key) for key, engine in VOICE_KEYS.items()}


def voice_params(s: SoundSettings) -> VoiceParams:
    return VoiceParams(**voice_changes(s))
