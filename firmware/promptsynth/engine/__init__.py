"""The real-time engine: MIDI in, voices, ALSA out, in a process of its own."""
