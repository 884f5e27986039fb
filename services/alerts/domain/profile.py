"""A child's profile from every source: latest details win, needs and flags accumulate.

Routing depends on it: SEND is E, K or suspected on any source; autism is ASD as the
primary need on any source. A flag once reported (looked after, social worker, suspected
SEND) stays until a person changes it: a school notice that leaves it out is not a denial.
"""

from __future__ import annotations


def merge_profile(profile: dict | None, *, child_id: str, la_code: str, pupil: dict, school_urn: str | None) -> tuple[dict, bool]:
    """The profile after one more source; and whether it changed. `pupil` is the event's JSON pupil."""
    old = profile or {}
    new = dict(old)
    new["child_id"] = child_id
    new["la_code"] = la_code if not old.get("la_code") else old["la_code"]
    for field in ("first_name", "last_name", "date_of_birth"):
        new[field] = old.get(field) or pupil[field]
    for field in ("upn", "year_group"):
        if pupil.get(field):
            new[field] = pupil[field]
        else:
            new.setdefault(field, None)
    if school_urn:
        new["school_urn"] = school_urn
    else:
        new.setdefault("school_urn", None)
    status = pupil.get("sen_status") or "unknown"
    if status != "unknown" or "sen_status" not in old:
        new["sen_status"] = status
    needs = list(old.get("sen_needs") or ())
    need = pupil.get("sen_primary_need")
    if need and need not in needs:
        needs.append(need)
    new["sen_needs"] = needs
    for flag in ("suspected_send", "looked_after", "has_social_worker"):
        new[flag] = bool(old.get(flag)) or bool(pupil.get(flag))
    return new, new != old


def has_send(profile: dict) -> bool:
    return profile.get("sen_status") in ("E", "K") or bool(profile.get("suspected_send"))


def merge_profiles(into: dict, other: dict) -> dict:
    """When two records turn out to be one child: keep `into`'s details, add `other`'s needs and flags."""
    merged = dict(into)
    merged["sen_needs"] = list(dict.fromkeys([*(into.get("sen_needs") or ()), *(other.get("sen_needs") or ())]))
    for flag in ("suspected_send", "looked_after", "has_social_worker"):
        merged[flag] = bool(into.get(flag)) or bool(other.get(flag))
    if merged.get("sen_status") in (None, "unknown"):
        merged["sen_status"] = other.get("sen_status") or "unknown"
    return merged
