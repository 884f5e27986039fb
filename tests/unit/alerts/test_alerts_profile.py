"""A child's profile from every source: first details kept, latest UPN and year group, needs and flags accumulate."""

from __future__ import annotations

import factories as fx

from services.alerts.domain.profile import has_send, merge_profile, merge_profiles

UPN = "A305200000001"


def merge(profile: dict | None, school_urn: str | None = "101676", **pupil) -> dict:
    new, _ = merge_profile(
        profile,
        child_id="ch_1",
        la_code="305",
        pupil=fx.make_pupil(**{"upn": UPN, **pupil}),
        school_urn=school_urn,
    )
    return new


def test_a_first_source_makes_the_profile():
    profile, changed = merge_profile(
        None, child_id="ch_1", la_code="305", pupil=fx.make_pupil(upn=UPN), school_urn="101676"
    )
    assert changed
    assert (profile["child_id"], profile["la_code"], profile["upn"], profile["school_urn"]) == (
        "ch_1",
        "305",
        UPN,
        "101676",
    )
    assert (profile["first_name"], profile["sen_status"], profile["sen_needs"]) == ("Zoë", "K", ["ASD"])


def test_the_same_source_again_changes_nothing():
    profile = merge(None)
    _, changed = merge_profile(
        profile, child_id="ch_1", la_code="305", pupil=fx.make_pupil(upn=UPN), school_urn="101676"
    )
    assert not changed


def test_the_first_names_and_birth_date_are_kept():
    profile = merge(merge(None), first_name="Zoe", last_name="Smith Jones", date_of_birth="2014-01-05")
    assert (profile["first_name"], profile["last_name"], profile["date_of_birth"]) == (
        "Zoë",
        "Smith-Jones",
        "2014-05-01",
    )


def test_the_latest_year_group_and_upn_win():
    profile = merge(merge(None, year_group="6"), year_group="7", upn="B305200000002")
    assert (profile["year_group"], profile["upn"]) == ("7", "B305200000002")


def test_a_source_without_upn_keeps_the_known_one():
    profile = merge(merge(None), upn=None, year_group=None, school_urn=None)
    assert (profile["upn"], profile["year_group"], profile["school_urn"]) == (UPN, "6", "101676")


def test_primary_needs_from_every_source_accumulate():
    profile = merge(
        merge(merge(None, sen_primary_need="ASD"), sen_primary_need="SEMH"), sen_primary_need="ASD"
    )
    assert profile["sen_needs"] == ["ASD", "SEMH"]


def test_flags_once_reported_stay():
    profile = merge(
        merge(None, looked_after=True, suspected_send=True),
        looked_after=False,
        suspected_send=False,
        has_social_worker=True,
    )
    assert (profile["looked_after"], profile["suspected_send"], profile["has_social_worker"]) == (
        True,
        True,
        True,
    )


def test_unknown_sen_status_never_overwrites_a_known_one():
    assert merge(merge(None, sen_status="E"), sen_status="unknown")["sen_status"] == "E"
    assert merge(merge(None, sen_status="E"), sen_status=...)["sen_status"] == "E"


def test_a_known_sen_status_replaces_unknown():
    assert merge(merge(None, sen_status="unknown"), sen_status="K")["sen_status"] == "K"


def test_send_is_e_k_or_suspected():
    assert has_send(merge(None, sen_status="E")) and has_send(merge(None, sen_status="K"))
    assert has_send(merge(None, sen_status="N", suspected_send=True))
    assert not has_send(merge(None, sen_status="N"))


def test_merge_profiles_keeps_the_targets_details_and_adds_needs_and_flags():
    into = merge(None, sen_status="unknown", sen_primary_need="SEMH", year_group="8")
    other = merge(
        None,
        upn=None,
        first_name="Zoe",
        sen_status="K",
        sen_primary_need="ASD",
        looked_after=True,
        year_group="7",
    )
    merged = merge_profiles(into, other)
    assert (merged["upn"], merged["first_name"], merged["year_group"]) == (UPN, "Zoë", "8")
    assert merged["sen_needs"] == ["SEMH", "ASD"]
    assert merged["looked_after"] is True
    assert merged["sen_status"] == "K"


def test_merge_profiles_keeps_a_known_sen_status():
    merged = merge_profiles(merge(None, sen_status="E"), merge(None, sen_status="N"))
    assert merged["sen_status"] == "E"
