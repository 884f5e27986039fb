"""The routes' typed dependencies: each reads what `bootstrap` built (on `app.state.referrals`) once.

A route names what it needs (`store: Store`, `desk: Desk`) instead of reaching into `app.state`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.referrals.bootstrap import Referrals
from services.referrals.desk import ReferralDesk
from services.referrals.handlers import Handlers
from services.referrals.policy import PolicyHolder
from services.referrals.store import ReferralStore
from services.referrals.views import Viewer


def get_referrals(request: Request) -> Referrals:
    referrals: Referrals = request.app.state.referrals
    return referrals


def get_store(referrals: Annotated[Referrals, Depends(get_referrals)]) -> ReferralStore:
    return referrals.store


def get_desk(referrals: Annotated[Referrals, Depends(get_referrals)]) -> ReferralDesk:
    return referrals.desk


def get_policy(referrals: Annotated[Referrals, Depends(get_referrals)]) -> PolicyHolder:
    return referrals.policy


def get_viewer(referrals: Annotated[Referrals, Depends(get_referrals)]) -> Viewer:
    return referrals.viewer


def get_handlers(referrals: Annotated[Referrals, Depends(get_referrals)]) -> Handlers:
    return referrals.handlers


Store = Annotated[ReferralStore, Depends(get_store)]
Desk = Annotated[ReferralDesk, Depends(get_desk)]
Policy = Annotated[PolicyHolder, Depends(get_policy)]
View = Annotated[Viewer, Depends(get_viewer)]
Notify = Annotated[Handlers, Depends(get_handlers)]
