"""Run one service's ASGI app under uvicorn (what `python -m services.<name>` does)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from services.common import logs
from services.common.settings import ServiceName, Settings


def serve(service: ServiceName, app: FastAPI, settings: Settings) -> None:
    logs.setup(service, settings.log_level)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port_of(service),
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        loop="uvloop",
        http="httptools",
    )
