"""The daemon: the systemd main process that hosts the engine, holds the instrument's state,
runs the front panel and keeps every part of it up (see run.py for the loop, top to bottom)."""
