"""System facts for the System page, read cheaply from /proc and /sys (missing ones say so)."""

from __future__ import annotations

import glob
import socket
from typing import List


def ip_address() -> str:
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the route
        ip = s.getsockname()[0]
        s.close()
        return ip
    except OSError:
        return "no network"


def temperatures() -> List[str]:
    out = []
    for zone in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        try:
            name = open(zone + "/type").read().strip()
            t = int(open(zone + "/temp").read().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        if any(k in name.lower() for k in ("cpu", "gpu", "soc", "x86")):
            out.append("%s %.0fC" % (name.replace("-therm", "")[:8], t))
    return out or ["temp n/a"]


def memory() -> str:
    try:
        info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
        total = int(info["MemTotal"].split()[0]) / 1048576
        avail = int(info["MemAvailable"].split()[0]) / 1048576
        return "mem %.1f/%.1fG" % (total - avail, total)
    except (OSError, KeyError, ValueError):
        return "mem n/a"
