"""The front panel: OLED pages, encoders and buttons, text entry, and the simulator's window.

Runs in the supervisor, never in the audio path. Hardware comes in through small backends
picked by name in the config (`display`: ssd1306, sh1106, pygame, capture, dummy, none; `gpio`:
jetson, none; the keyboard through evdev), so the same pages run on the device and a laptop.
"""
