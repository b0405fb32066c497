"""The instrument on the network: the web page and OSC, each started only where the config turns
it on, each a part of the health report, and both reaching the instrument only through the bridge
that the daemon loop empties (web/bridge.py)."""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from promptsynth.config import Config
from promptsynth.daemon.health import FAILED, OK, Health
from promptsynth.log import describe

log = logging.getLogger("network")

RETRY_S = 30.0


class Network:
    def __init__(self, cfg: Config, health: Health, inst, config_path: Optional[str] = None):
        from promptsynth.web.bridge import Bridge

        self.cfg, self.health, self.inst, self.config_path = cfg, health, inst, config_path
        self.bridge = Bridge()
        self.board: Any = None  # web/actions.py JobBoard, once started
        self.web: Any = None  # web/service.py WebServer, while it runs
        self.osc: Any = None  # web/osc.py OscServer, while it runs
        self.logs: Any = None  # web/logbuffer.py LogBuffer, while the page runs
        self._retry_at: Dict[str, Optional[float]] = {"web": None, "osc": None}  # a busy port: tried again then
        self.clock = health.clock

    @property
    def enabled(self) -> bool:
        return self.cfg.web.enabled or self.cfg.osc.enabled

    @property
    def wake(self):
        """What the loop's wait for the engine also wakes on: a request queued (None when off)."""
        return self.bridge if self.enabled and self.board is not None else None

    def start(self) -> None:
        if not self.enabled:
            return
        from promptsynth.web.actions import JobBoard

        self.board = JobBoard(self.inst)
        if self.cfg.web.enabled:
            self.health.guard("web", self._start_web)
        if self.cfg.osc.enabled:
            self.health.guard("osc", self._start_osc)

    def _start_web(self) -> None:
        from promptsynth.web.auth import check_hash

        w = self.cfg.web
        why = check_hash(w.password_hash)
        if why:  # never an open page: no password, no page
            self.health.sync("web", FAILED, "not started: %s" % why)
            log.error("web page not started: %s", why)
            return
        from promptsynth.web import app as web_app
        from promptsynth.web.logbuffer import LogBuffer
        from promptsynth.web.service import WebServer

        self.logs = LogBuffer()
        logging.getLogger().addHandler(self.logs)
        web = web_app.Web(self.cfg, self.bridge, self.inst, self.board, self.logs, self.config_path)
        server = WebServer(web_app.build(web), w.host, w.port)
        try:
            server.start()
        except OSError as e:
            logging.getLogger().removeHandler(self.logs)
            self._failed("web", e)
            return
        self.web = server
        self.health.sync("web", OK, "http://%s:%d" % (w.host, server.port))
        log.info("web page on http://%s:%d", w.host, server.port)

    def _start_osc(self) -> None:
        from promptsynth.web.osc import OscServer

        o = self.cfg.osc
        server = OscServer(o, self.bridge, self.inst, self.board)  # a bad [osc] allow entry raises ConfigError
        try:
            server.start()
        except OSError as e:
            self._failed("osc", e)
            return
        self.osc = server
        self.health.sync("osc", OK, "udp %s:%d" % (o.host, server.port))  # (osc.py logs where it listens)

    def _failed(self, part: str, e: OSError) -> None:
        """It could not listen (the port in use, the address gone): said, and tried again later."""
        self._retry_at[part] = self.clock() + RETRY_S
        self.health.sync(part, FAILED, "%s; trying again every %.0f s" % (describe(e), RETRY_S))
        log.error("%s not started: %s", part, describe(e))

    def step(self) -> None:
        """Run the requests that wait (the daemon loop's thread: the instrument's only user)."""
        if not self.enabled:
            return
        self.health.guard("network", self.bridge.run_pending)
        now = self.clock()
        for part, start in (("web", self._start_web), ("osc", self._start_osc)):
            due = self._retry_at[part]
            if due is not None and now >= due:
                self._retry_at[part] = None
                self.health.guard(part, start)

    def stop(self) -> None:
        self.bridge.fail_pending("the instrument is stopping")
        for server in (self.web, self.osc):
            if server is not None:
                try:
                    server.stop()
                except Exception:  # stopping goes on
                    log.exception("while stopping the network")
        self.web = self.osc = None
        self.board = None  # no more waking on the bridge
        self.bridge.close()
        if self.logs is not None:
            logging.getLogger().removeHandler(self.logs)
            self.logs = None
