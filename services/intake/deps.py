"""The routes' typed dependencies: each reads what `bootstrap` built (on `app.state.intake`) once.

A route names what it needs (`intake: Service`) instead of reaching into `app.state`. The
dependencies are `async def` so that FastAPI calls them inline, not in its thread pool: the intake's
routes are the hot path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.intake.bootstrap import Intake


def intake_of(request: Request) -> Intake:
    """For the hot routes, which take no dependencies (services.common.http.LeanRoute)."""
    intake: Intake = request.app.state.intake
    return intake


async def get_intake(request: Request) -> Intake:
    return intake_of(request)


Service = Annotated[Intake, Depends(get_intake)]  # the relay (broker up?), the group committer, the event log, the calendars
