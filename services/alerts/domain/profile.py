"""A child's profile from every source, the same whatever order the sources arrive in.

- Names and date of birth: the earliest reported source's (a later typo doesn't rename a child).
- School and LA: the latest reported school source's (a notice or an LA return; a call only
  when no school has reported): `la_code` is the LA of the child's latest school.
- Year group, SEN status: the latest reported source that gives one (`unknown` gives nothing).
- Needs, flags (suspected SEND, looked after, social worker) and every LA named: accumulate.
  A flag once reported stays until a person changes it: a notice that leaves it out is not a denial.

"Latest" is by when the source was reported (then by event id), never by when it arrived, so a
replay, a redelivery or another partitioning gives the same profile. Routing depends on it:
SEND is E, K, suspected, or any recorded primary need (`schemas.codes.is_send`, `ChildProfile.has_send`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Source:
    """What one intake event says about the child."""

    at: str  # when it was reported (UTC ISO)
    event_id: str
    la_code: str
    school_urn: str | None
    from_school: bool  # an exclusion notice or an LA return (not a call)
    pupil: dict[str, Any]  # the event's JSON pupil


def _later(times: dict[str, Any], key: str, stamp: list[Any]) -> bool:
    current = times.get(key)
    return current is None or stamp > current


def merge_profile(profile: dict[str, Any] | None, times: dict[str, Any] | None, *, child_id: str, source: Source) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The profile (and its field times) after one more source; and whether the profile changed."""
    old = profile or {}
    new, times = dict(old), dict(times or {})
    pupil = source.pupil
    new["child_id"] = child_id
    stamp = [source.at, source.event_id]
    if "identity" not in times or stamp < times["identity"]:  # the earliest source names the child
        times["identity"] = stamp
        new.update(first_name=pupil["first_name"], last_name=pupil["last_name"], date_of_birth=pupil["date_of_birth"])
    new["upn"] = pupil.get("upn") or old.get("upn")
    place = [1 if source.from_school else 0, *stamp]
    if _later(times, "la", place):
        times["la"] = place
        new["la_code"] = source.la_code
    if source.school_urn and _later(times, "school", place):
        times["school"] = place
        new["school_urn"] = source.school_urn
    new.setdefault("school_urn", None)
    if pupil.get("year_group") and _later(times, "year_group", stamp):
        times["year_group"] = stamp
        new["year_group"] = pupil["year_group"]
    new.setdefault("year_group", None)
    status = pupil.get("sen_status") or "unknown"
    if status != "unknown" and _later(times, "sen_status", stamp):
        times["sen_status"] = stamp
        new["sen_status"] = status
    new.setdefault("sen_status", "unknown")
    need = pupil.get("sen_primary_need")
    new["sen_needs"] = sorted({*(old.get("sen_needs") or ()), *([need] if need else ())})
    new["la_codes"] = sorted({*(old.get("la_codes") or ()), source.la_code})
    for flag in ("suspected_send", "looked_after", "has_social_worker"):
        new[flag] = bool(old.get(flag)) or bool(pupil.get(flag))
    return new, times, new != old


def merge_group(members: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """The profile of several records of one child (linked): the first is the child the others count
    as (its id, UPN, names and date of birth stay); the rest is merged as for sources."""
    root, root_times = members[0]
    merged, times = dict(root), dict(root_times)
    for profile, their in members[1:]:
        for key, fields in (("la", ("la_code",)), ("school", ("school_urn",)), ("year_group", ("year_group",)), ("sen_status", ("sen_status",))):
            if key in their and _later(times, key, their[key]):
                times[key] = their[key]
                merged.update({f: profile.get(f) for f in fields})
        merged["sen_needs"] = sorted({*merged.get("sen_needs", ()), *(profile.get("sen_needs") or ())})
        merged["la_codes"] = sorted({*merged.get("la_codes", ()), *(profile.get("la_codes") or ())})
        for flag in ("suspected_send", "looked_after", "has_social_worker"):
            merged[flag] = bool(merged.get(flag)) or bool(profile.get(flag))
    return merged
