"""The instrument on the local network: the web page (app.py, static/) and OSC (osc.py), both off
unless the config turns them on, both reaching the instrument only through bridge.py."""
