"""A linked group's profile: the effective child's own, plus what any record of the group says.

Routing errs towards reaching the child (a missed child is worse than a false alarm): needs,
LAs with a duty and flags accumulate across records; an EHC plan or SEN support on any record
counts; names, date of birth, school and year come from the effective child's record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_SEN_RANK = {"E": 3, "K": 2, "N": 1, "unknown": 0}


def merge(base: dict[str, Any], others: Iterable[dict[str, Any]]) -> dict[str, Any]:
    others = list(others)
    merged = dict(base)
    if not others:  # a record on its own: its profile as it came
        return merged
    needs = list(base.get("sen_needs") or [])
    las = [base["la_code"], *(base.get("la_codes") or [])] if base.get("la_code") else list(base.get("la_codes") or [])
    status = base.get("sen_status") or "unknown"
    for other in others:
        for need in other.get("sen_needs") or []:
            if need not in needs:
                needs.append(need)
        las.extend([other["la_code"]] if other.get("la_code") else [])
        las.extend(other.get("la_codes") or [])
        theirs = other.get("sen_status") or "unknown"
        stronger_plan = _SEN_RANK.get(theirs, 0) >= 2 and _SEN_RANK[theirs] > _SEN_RANK.get(status, 0)  # E or K beats less
        if stronger_plan or (status == "unknown" and theirs != "unknown"):
            status = theirs
        for flag in ("suspected_send", "looked_after", "has_social_worker"):
            merged[flag] = bool(merged.get(flag)) or bool(other.get(flag))
        if not merged.get("upn") and other.get("upn"):
            merged["upn"] = other["upn"]
    merged["sen_needs"] = needs
    merged["sen_status"] = status
    merged["la_codes"] = list(dict.fromkeys(la for la in las if la))
    return merged


def visible_las(profile: dict[str, Any]) -> list[str]:
    """The LAs with a duty towards the child: each sees its referrals (contract: as for alerts)."""
    return list(dict.fromkeys(la for la in [profile.get("la_code"), *(profile.get("la_codes") or [])] if la))
