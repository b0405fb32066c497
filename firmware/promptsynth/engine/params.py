"""The engine's voice parameters, from the sound settings a user edits (one mapping, one place)."""

from __future__ import annotations

from typing import Any, Dict

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
    "filter_type": "filter_type",
    "cutoff": "cutoff",
    "resonance": "resonance",
    "filter_keytrack": "filter_keytrack",
    "filter_veltrack": "filter_veltrack",
    "filter_env_depth": "filter_env_depth",
    "filter_attack": "filter_attack",
    "filter_decay": "filter_decay",
    "filter_sustain": "filter_sustain",
    "filter_release": "filter_release",
    "lfo_wave": "lfo_wave",
    "lfo_rate": "lfo_rate",
    "lfo_delay": "lfo_delay",
    "lfo_fade": "lfo_fade",
    "lfo_pitch": "lfo_pitch",
    "lfo_cutoff": "lfo_cutoff",
    "lfo_level": "lfo_level",
    "lfo_modwheel": "lfo_modwheel",
    "lfo_aftertouch": "lfo_aftertouch",
    "aftertouch_cutoff": "aftertouch_cutoff",
    "chorus_mix": "chorus_mix",
    "chorus_rate": "chorus_rate",
    "chorus_depth": "chorus_depth",
    "delay_mix": "delay_mix",
    "delay_time": "delay_time",
    "delay_sync": "delay_sync",
    "delay_feedback": "delay_feedback",
    "reverb_mix": "reverb_mix",
    "reverb_size": "reverb_size",
    "reverb_damping": "reverb_damping",
}


def _voice_values(s: SoundSettings) -> Dict[str, Any]:
    """Every voice parameter of ``s`` by its VoiceParams name (each of its field's type)."""
    return {engine: getattr(s, key) for key, engine in VOICE_KEYS.items()}


def voice_changes(s: SoundSettings) -> Dict[str, float]:
    """Every voice parameter of ``s``, named as the engine's SetParams takes them."""
    return _voice_values(s)


def voice_params(s: SoundSettings) -> VoiceParams:
    return VoiceParams(**_voice_values(s))
