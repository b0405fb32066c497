"""The Ray Serve application: one model deployment per [server] models, the ingress in front.

``build(cfg)`` makes it (no Ray needed until it runs); ``start(cfg)`` starts Ray (on this machine,
every listener on 127.0.0.1 unless [server] host says otherwise; or joins [server] ray_address)
and deploys it; ``stop()`` takes it down.
"""

from __future__ import annotations

import os
from typing import Any, Dict

from promptsynth import config as config_mod
from promptsynth.config import Config
from promptsynth.generator.models import model_dir
from promptsynth.server import tokens as tok

APP_NAME = "promptsynth"
HEARTBEAT_S = 5.0  # an idle event stream sends a blank line this often (the network is alive)
MAX_CONNECTIONS = 1000  # requests the ingress serves at once (streams are cheap: asyncio)


def settings(cfg: Config) -> Dict[str, Any]:
    """What the ingress needs, from the config (plain values: it travels to the replica)."""
    sv = cfg.server
    tok.parse(sv.tokens)  # a bad entry stops the start, naming it
    return dict(
        tokens=list(sv.tokens),
        queue=sv.queue,
        replicas=sv.replicas,
        keep_results_s=sv.keep_results_s,
        max_body_mb=sv.max_body_mb,
        max_batch=sv.max_batch,
        state_dir=config_mod.state_dir(cfg),
        max_prompt_chars=cfg.generate.max_prompt_chars,
        job_timeout=cfg.generate.timeout,
        heartbeat_s=HEARTBEAT_S,
    )


def build(cfg: Config):
    """The application: ingress bound to a model deployment per model."""
    from ray import serve

    from promptsynth.server.ingress import Ingress, app
    from promptsynth.server.replica import ModelReplica

    sv = cfg.server
    state = config_mod.state_dir(cfg)
    handles = {}
    for m in sv.models:
        deployment = serve.deployment(
            ModelReplica,
            name="model-" + m,
            num_replicas=sv.replicas,
            # one batch running and the next filling (Serve's router caps what a replica is sent)
            max_ongoing_requests=2 * sv.max_batch,
            ray_actor_options={"num_cpus": sv.cpus_per_replica, "num_gpus": sv.gpus_per_replica},
            health_check_period_s=2,
            graceful_shutdown_timeout_s=2,
        )
        handles[m] = deployment.bind(m, model_dir(m, state), sv.device, sv.max_batch, sv.batch_wait_ms / 1000.0)
    ingress = serve.deployment(
        serve.ingress(app)(Ingress),
        name="ingress",
        ray_actor_options={"num_cpus": 0},
        # every instrument holds a job's event stream open: Serve's default (5 at once) would
        # leave the sixth instrument's requests, a cancel among them, waiting behind the streams
        max_ongoing_requests=MAX_CONNECTIONS,
    )
    return ingress.bind(handles, settings(cfg))


def build_from_env():
    """The application for a config file named by PROMPTSYNTH_CONFIG (KubeRay's serveConfigV2 and
    `serve run` import it by this name: deploy/kuberay/rayservice.yaml)."""
    cfg, _ = config_mod.load(os.environ.get("PROMPTSYNTH_CONFIG") or None)
    if not cfg.server.tokens:
        raise config_mod.ConfigError("[server] tokens is empty: nobody could use the server")
    return build(cfg)


def start(cfg: Config, num_cpus=None, temp_dir=None) -> None:
    """Start (or join) Ray and deploy; returns when every replica has loaded its model.
    ``temp_dir``: where a Ray of our own keeps its sockets and logs (default /tmp/ray)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Serve kills an HTTP proxy that has not answered its ready check within 5 s (10 s for the
    # health check) and serve.start then fails: a loaded machine (or a Jetson-class CPU) misses
    # that while the replicas load their models. Our own cluster inherits these; a joined one
    # keeps its own settings.
    os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    os.environ.setdefault("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "30")
    sv = cfg.server
    if not sv.ray_address:
        # a cluster of our own: its node address and every listener on 127.0.0.1
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray
    from ray import serve

    if "tiny" in sv.models:  # built once here, not by every replica at once into one folder
        from promptsynth.generator.build import save_tiny, tiny_is_current

        path = model_dir("tiny", config_mod.state_dir(cfg))
        if not tiny_is_current(path):
            save_tiny(path)
    if not ray.is_initialized():
        ray.init(
            address=sv.ray_address or None,
            num_cpus=num_cpus if not sv.ray_address else None,
            include_dashboard=False,
            log_to_driver=False,
            **({"_temp_dir": temp_dir} if temp_dir and not sv.ray_address else {}),
        )
    serve.start(http_options={"host": sv.host, "port": sv.port})
    serve.run(build(cfg), name=APP_NAME, route_prefix="/")


def stop() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()
    finally:
        ray.shutdown()
