"""systemd's notify protocol (sd_notify) without libsystemd: datagrams to $NOTIFY_SOCKET.

READY=1 once the engine produces audio, WATCHDOG=1 only while the engine and the supervisor are
healthy, STATUS= lines for `systemctl status`, STOPPING=1 on the way out. Outside systemd
(no NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import os
import socket
from typing import Optional


class Notifier:
    def __init__(self, address: Optional[str] = None):
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if self.address.startswith("@"):  # abstract namespace
            self.address = "\0" + self.address[1:]
        self.sock = None
        if self.address:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def send(self, *fields: str) -> bool:
        if self.sock is None:
            return False
        try:
            self.sock.sendto("\n".join(fields).encode("utf-8"), self.address)
            return True
        except OSError:
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1", *(["STATUS=" + status] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send("STATUS=" + text)

    def stopping(self) -> bool:
        return self.send("STOPPING=1")
