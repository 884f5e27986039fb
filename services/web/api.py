"""The alerts and referrals APIs, as the pages call them: the pages' own token, speaking for the
signed-in person (services/common/auth.py: acting_for), so each API authorises and audits that
person. The pages hold no data of their own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from services.common.auth import PERSON_HEADER, person_header
from services.web.people import Person


class ApiError(Exception):
    """An API's problem+json answer: its status, and its field errors for the page's error summary."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or str(status))
        self.status, self.problem = status, problem

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors") or [])


@dataclass
class Api:
    client: httpx.AsyncClient
    token: str
    bases: dict[str, str]  # service → base URL

    async def call(self, person: Person, service: str, method: str, path: str, *, params: dict[str, Any] | None = None,
                   body: Any = None, purpose: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}",
                   PERSON_HEADER: person_header(person.sub, person.roles, person.agency, person.la_codes)}
        if purpose:
            headers["X-Signpost-Purpose"] = purpose
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        response = await self.client.request(method, self.bases[service] + path, params=clean, json=body, headers=headers)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase}
            raise ApiError(response.status_code, problem if isinstance(problem, dict) else {})
        return response.json() if response.content else None

    async def get(self, person: Person, service: str, path: str, **params: Any) -> Any:
        return await self.call(person, service, "GET", path, params=params)

    async def post(self, person: Person, service: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        return await self.call(person, service, "POST", path, body=body, params=params)
