"""The HTTP API (remote/api.py) in front of the model deployments: tokens, limits, the job table,
and each job driven through its model's deployment while its instrument reads the news.

One ingress replica holds the job table (jobs are small; their audio is a few MB at most and is
dropped [server] keep_results_s after the job ends); the model deployments do the work.
"""

# no "from __future__ import annotations": FastAPI reads the routes' parameter types (Request)
# from the signatures Ray Serve rebuilds, which cannot resolve annotations kept as strings
import asyncio
import logging
from typing import Any, Dict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from promptsynth.generator.models import MODELS, info_for, model_dir
from promptsynth.generator.params import ParamError, validate
from promptsynth.remote import api
from promptsynth.remote.api import ApiError
from promptsynth.server import tokens as tok
from promptsynth.server.jobs import ACTIVE, Job, JobTable

log = logging.getLogger("ray.serve")

app = FastAPI(title="promptsynth generation server", docs_url=None, redoc_url=None, openapi_url=None)


@app.exception_handler(ApiError)
async def _error(request: Request, e: ApiError) -> JSONResponse:
    headers = {"Retry-After": str(e.retry_after)} if e.retry_after is not None else None
    return JSONResponse({"error": str(e)}, status_code=e.status, headers=headers)


class Ingress:
    def __init__(self, handles: Dict[str, Any], settings: Dict[str, Any]):
        self.handles = handles
        self.s = settings
        self.tokens = tok.parse(settings["tokens"])
        self.table = JobTable(settings["queue"], settings["replicas"], settings["keep_results_s"])
        self.max_body = int(settings["max_body_mb"] * 1024 * 1024)
        self.tasks: Dict[str, asyncio.Task] = {}

    # ---- helpers -------------------------------------------------------------------------------
    def _owner(self, request: Request) -> str:
        who = tok.who(self.tokens, request.headers.get("authorization"))
        if who is None:
            raise ApiError(401, "a valid API token is needed (Authorization: Bearer TOKEN)")
        return who

    async def _body(self, request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            raise ApiError(413, "the request is over the server's %g MB limit" % self.s["max_body_mb"])
        chunks, size = [], 0
        async for chunk in request.stream():  # a body without a length is counted as it comes
            size += len(chunk)
            if size > self.max_body:
                raise ApiError(413, "the request is over the server's %g MB limit" % self.s["max_body_mb"])
            chunks.append(chunk)
        return b"".join(chunks)

    def _check(self, model: str, params):
        if model not in self.handles:
            raise ApiError(400, "model %r is not served here (served: %s)" % (model[:40], ", ".join(self.handles)))
        info = info_for(model, model_dir(model, self.s["state_dir"])) if model in MODELS else None
        try:
            return validate(
                params,
                max_seconds=info.max_seconds if info else 30.0,
                min_seconds=info.min_seconds if info else 0.5,
                max_prompt_chars=self.s["max_prompt_chars"],
            )
        except ParamError as e:
            raise ApiError(400, str(e)) from None

    async def _drive(self, job: Job) -> None:
        """Run a job through its model's deployment, recording its events."""
        payload = dict(
            number=job.number,
            params=job.params,
            timeout=self.s["job_timeout"],
            source=job.source,
            source_rate=job.source_rate,
        )
        try:
            stream = self.handles[job.model].options(stream=True).run.remote(payload)
            job.stream = stream
            async for ev in stream:
                if ev["event"] == "done":
                    job.audio = ev.pop("audio")
                    job.result = {k: v for k, v in ev.items() if k != "event"}
                    job.add({"event": "done", "candidates": len(job.audio), "batch": ev.get("batch", 1)})
                else:
                    job.add(ev)
                if job.state not in ACTIVE:
                    break
            if job.state in ACTIVE:
                job.add(dict(event="failed", kind="lost", reason="the replica ended the job without a result"))
        except asyncio.CancelledError:
            if job.state in ACTIVE:
                job.add(dict(event="failed", kind="cancelled", reason="cancelled"))
        except Exception as e:  # the replica died mid-job, Ray lost it...: a clear error, never a hang
            log.warning("job %s on %s failed in Ray: %s", job.id, job.model, e)
            if job.state in ACTIVE:
                job.add(
                    dict(
                        event="failed",
                        kind="lost",
                        reason="the server lost this job (%s); try again" % type(e).__name__,
                    )
                )
        finally:
            job.stream = None
            self.table.finished(job)
            self.tasks.pop(job.id, None)

    # ---- the API -------------------------------------------------------------------------------
    async def submit(self, request: Request) -> Response:
        owner = self._owner(request)
        model, params, source, rate = api.parse_job(await self._body(request))
        params = self._check(model, params)
        if params.source and source is None:
            raise ApiError(400, "sound to sound needs the source sound in the request")
        job = self.table.add(owner, model, params, source if params.source else None, rate)
        job.add(dict(event="queued", position=self.table.position(job)))
        self.tasks[job.id] = asyncio.get_running_loop().create_task(self._drive(job))
        if request.query_params.get("stream") == "1":  # the job's news on this answer: no second exchange
            return StreamingResponse(self._lines(job, inline=True), media_type="application/x-ndjson")
        return JSONResponse({"job": job.id, "position": self.table.position(job)}, status_code=202)

    async def events(self, request: Request, job_id: str) -> Response:
        job = self.table.get(self._owner(request), job_id)
        inline = request.query_params.get("result") == "1"
        return StreamingResponse(self._lines(job, inline), media_type="application/x-ndjson")

    async def _lines(self, job: Job, inline: bool):
        """A job's events as JSON lines to its end; with ``inline`` its done line holds the result."""
        sent = 0
        while True:
            while sent < len(job.events):
                ev = dict(job.events[sent])
                sent += 1
                kind = ev["event"]
                if kind == "progress" and sent < len(job.events) and job.events[sent]["event"] == "progress":
                    continue  # a later step is already here: a slow reader gets the news, not the backlog
                if kind == "queued":  # where it stands now, not when it came
                    ev.update(job=job.id, position=self.table.position(job))
                elif kind == "done" and inline and job.result is not None:
                    ev.update(api.inline_result(job.result, job.audio))
                yield api.event_line(ev)
            if job.state not in ACTIVE:
                return
            try:  # a keep-alive line when nothing happened: a cut network shows as silence
                await asyncio.wait_for(job.changed.wait(), timeout=self.s["heartbeat_s"])
            except asyncio.TimeoutError:
                yield b"\n"

    async def state(self, request: Request, job_id: str) -> Response:
        return JSONResponse(self.table.get(self._owner(request), job_id).summary())

    async def audio(self, request: Request, job_id: str, k: int) -> Response:
        job = self.table.get(self._owner(request), job_id)
        if job.state != "done" or not 0 <= k < len(job.audio):
            raise ApiError(404, "no such candidate (the job is %s)" % job.state)
        rate = int(job.result["rate"]) if job.result else 16000
        return Response(api.wav_bytes(job.audio[k], rate), media_type="audio/wav")

    async def cancel(self, request: Request, job_id: str) -> Response:
        job = self.table.get(self._owner(request), job_id)
        if job.state in ACTIVE:
            if job.stream is not None:
                job.stream.cancel()  # the replica marks it; its thread stops at the next step
            job.add(dict(event="failed", kind="cancelled", reason="cancelled"))
        return JSONResponse(job.summary())

    async def health(self, request: Request) -> Response:
        self._owner(request)
        return JSONResponse(
            {
                "models": {
                    m: {"replicas": self.s["replicas"], "waiting": len(self.table.waiting(m))} for m in self.handles
                },
                "max_batch": self.s["max_batch"],
            }
        )


# The routes: plain functions calling the deployment's instance (Serve's class-based routes
# rebuild method signatures, which lost ``self`` with this FastAPI: a 422 for every request)
def _me() -> Ingress:
    from ray import serve

    return serve.get_replica_context().servable_object


@app.post(api.PREFIX + "/jobs")
async def submit(request: Request) -> Response:
    return await _me().submit(request)


@app.get(api.PREFIX + "/jobs/{job_id}/events")
async def events(request: Request, job_id: str) -> Response:
    return await _me().events(request, job_id)


@app.get(api.PREFIX + "/jobs/{job_id}")
async def state(request: Request, job_id: str) -> Response:
    return await _me().state(request, job_id)


@app.get(api.PREFIX + "/jobs/{job_id}/audio/{k}")
async def audio(request: Request, job_id: str, k: int) -> Response:
    return await _me().audio(request, job_id, k)


@app.delete(api.PREFIX + "/jobs/{job_id}")
async def cancel(request: Request, job_id: str) -> Response:
    return await _me().cancel(request, job_id)


@app.get(api.PREFIX + "/health")
async def health(request: Request) -> Response:
    return await _me().health(request)
