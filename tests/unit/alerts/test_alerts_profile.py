"""A child's profile from every source: earliest names kept, latest school and details, needs and flags accumulate;
the same whatever order the sources arrive in."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import factories as fx
import pytest

from schemas.children import ChildProfile
from services.alerts.domain.profile import Source, merge_group, merge_profile

UPN = "A305200000001"
_clock = itertools.count(1)


def source(*, at: str | None = None, la_code: str = "305", school_urn: str | None = "101676", from_school: bool = True, **pupil) -> Source:
    """A source reported after every earlier one, unless `at` says when."""
    # strictly later than every earlier source, however many tests ran before (any test order)
    when = at or (datetime(2025, 3, 1, 9, tzinfo=UTC) + timedelta(seconds=next(_clock))).isoformat()
    return Source(when, f"ev-{next(_clock)}", la_code, school_urn, from_school, fx.make_pupil(**{"upn": UPN, **pupil}))


def fold(*sources: Source) -> dict:
    profile, times = None, None
    for s in sources:
        profile, times, _ = merge_profile(profile, times, child_id="ch_1", source=s)
    return profile


def merge(profile_and_sources: list[Source] | None = None, school_urn: str | None = "101676", **pupil) -> list[Source]:
    """Sources so far plus one more (reported later)."""
    return [*(profile_and_sources or []), source(school_urn=school_urn, **pupil)]


def test_a_first_source_makes_the_profile():
    profile, times, changed = merge_profile(None, None, child_id="ch_1", source=source())
    assert changed
    assert (profile["child_id"], profile["la_code"], profile["upn"], profile["school_urn"], profile["la_codes"]) == ("ch_1", "305", UPN, "101676", ["305"])
    assert (profile["first_name"], profile["sen_status"], profile["sen_needs"]) == ("Zoë", "K", ["ASD"])


def test_the_same_source_again_changes_nothing():
    s = source()
    profile, times, _ = merge_profile(None, None, child_id="ch_1", source=s)
    assert merge_profile(profile, times, child_id="ch_1", source=s)[2] is False


def test_the_earliest_names_and_birth_date_are_kept():
    profile = fold(*merge(merge(), first_name="Zoe", last_name="Smith Jones", date_of_birth="2014-01-05"))
    assert (profile["first_name"], profile["last_name"], profile["date_of_birth"]) == ("Zoë", "Smith-Jones", "2014-05-01")


def test_the_latest_year_group_wins():
    assert fold(*merge(merge(year_group="6"), year_group="7"))["year_group"] == "7"


def test_a_source_without_details_keeps_the_known_ones():
    profile = fold(*merge(merge(), upn=None, year_group=None, school_urn=None))
    assert (profile["upn"], profile["year_group"], profile["school_urn"]) == (UPN, "6", "101676")


def test_primary_needs_from_every_source_accumulate():
    profile = fold(*merge(merge(merge(sen_primary_need="ASD"), sen_primary_need="SEMH"), sen_primary_need="ASD"))
    assert profile["sen_needs"] == ["ASD", "SEMH"]


def test_flags_once_reported_stay():
    profile = fold(*merge(merge(looked_after=True, suspected_send=True), looked_after=False, suspected_send=False, has_social_worker=True))
    assert (profile["looked_after"], profile["suspected_send"], profile["has_social_worker"]) == (True, True, True)


def test_unknown_sen_status_never_overwrites_a_known_one():
    assert fold(*merge(merge(sen_status="E"), sen_status="unknown"))["sen_status"] == "E"
    assert fold(*merge(merge(sen_status="E"), sen_status=...))["sen_status"] == "E"


def test_a_known_sen_status_replaces_unknown():
    assert fold(*merge(merge(sen_status="unknown"), sen_status="K"))["sen_status"] == "K"


def test_la_code_is_the_latest_schools_and_every_la_named_is_kept():
    """Issue 8: a child who moves to a school in another LA is that LA's now, and the first LA keeps a duty."""
    moved = fold(source(la_code="305", school_urn="101676"), source(la_code="334", school_urn="104041"))
    assert (moved["la_code"], moved["school_urn"], moved["la_codes"]) == ("334", "104041", ["305", "334"])


def test_a_call_from_the_home_la_does_not_move_the_child_from_its_school():
    profile = fold(source(la_code="334", school_urn="104041"), source(la_code="305", school_urn=None, from_school=False))
    assert (profile["la_code"], profile["la_codes"]) == ("334", ["305", "334"])


def test_the_order_sources_arrive_in_does_not_matter():
    sources = [
        source(at="2025-01-10T09:00:00", la_code="305", school_urn="101676", year_group="7", sen_status="N"),
        source(at="2025-02-10T09:00:00", la_code="334", school_urn="104041", year_group="8", sen_status="K", sen_primary_need="SEMH"),
        source(at="2025-01-20T09:00:00", la_code="305", school_urn=None, from_school=False, first_name="Zoe", looked_after=True),
    ]
    profiles = [fold(*order) for order in itertools.permutations(sources)]
    assert all(p == profiles[0] for p in profiles)
    assert (profiles[0]["la_code"], profiles[0]["year_group"], profiles[0]["sen_status"], profiles[0]["first_name"]) == ("334", "8", "K", "Zoë")


@pytest.mark.parametrize(
    ("fields", "send"),
    [({"sen_status": "E"}, True), ({"sen_status": "K"}, True), ({"sen_status": "N", "suspected_send": True}, True),
     ({"sen_status": "unknown", "sen_primary_need": "ASD"}, True), ({"sen_status": "N", "sen_primary_need": ...}, False),
     ({"sen_status": "unknown", "sen_primary_need": ...}, False)],
)  # fmt: skip
def test_send_is_e_k_suspected_or_any_recorded_need(fields, send):
    """Issue 8: a recorded primary need (autism) with sen_status unknown is SEND."""
    assert ChildProfile(**fold(source(**fields))).has_send is send


def test_merge_group_keeps_the_roots_details_and_adds_needs_flags_and_las():
    root, root_times, _ = merge_profile(None, None, child_id="ch_root", source=source(at="2025-01-10T09:00:00", sen_status="unknown",
                                                                                      sen_primary_need="SEMH", year_group="8"))  # fmt: skip
    other, other_times, _ = merge_profile(None, None, child_id="ch_call", source=source(
        at="2025-02-10T09:00:00", la_code="334", school_urn=None, from_school=False, upn=None, first_name="Zoe", sen_status="K",
        sen_primary_need="ASD", looked_after=True, year_group="7"))  # fmt: skip
    merged = merge_group([(root, root_times), (other, other_times)])
    assert (merged["child_id"], merged["upn"], merged["first_name"]) == ("ch_root", UPN, "Zoë")
    assert (merged["year_group"], merged["sen_status"], merged["sen_needs"]) == ("7", "K", ["ASD", "SEMH"])  # the later source's
    assert merged["looked_after"] is True and merged["la_codes"] == ["305", "334"]
    assert merged["la_code"] == "305"  # a call doesn't move the child from its school
