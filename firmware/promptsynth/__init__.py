"""promptsynth: a text-driven sampler instrument for the Jetson AGX Xavier."""

__version__ = "0.1.0"
