"""The web page's server: uvicorn in a thread of the daemon, on a socket bound here (so a port in
use is an OSError the daemon reports, not a thread that quietly exits)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Optional

START_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 64  # beyond these uvicorn answers 503 at once: a flood cannot pile up threads


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; raises OSError naming them."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise OSError(e.errno, "cannot listen on %s:%d: %s" % (host, port, e.strerror or e)) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, "cannot listen on %s:%d: %s" % (host, port, e.strerror or e)) from None
    return sock


class WebServer:
    def __init__(self, app, host: str, port: int):
        self.app, self.host, self.want_port = app, host, port
        self.server: Any = None  # uvicorn.Server, while it runs
        self.thread: Optional[threading.Thread] = None
        self.sock: Optional[socket.socket] = None

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1] if self.sock is not None else 0

    def start(self) -> None:
        import uvicorn

        self.sock = listen(self.host, self.want_port)
        cfg = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=5,
            server_header=False,
        )
        self.server = server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": [self.sock]}, name="web", daemon=True)
        self.thread.start()
        end = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                self.stop()
                raise OSError("the web server did not start on %s:%d" % (self.host, self.want_port))
            time.sleep(0.01)

    def stop(self, timeout: float = 5.0) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
        if self.sock is not None:
            self.sock.close()
        self.server = self.thread = self.sock = None
