"""Sounds and presets on disk."""
