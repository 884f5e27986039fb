"""domain/merge.py, links.py, profile.py: links merge referrals, undos split them, chains and cycles resolve."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.referrals.domain import links, merge, profile
from services.referrals.domain.decide import referral_id
from services.referrals.domain.merge import CloseMerged, GroupReferral, MoveReasons, OpenSplit, Repoint

T = datetime(2025, 3, 6, tzinfo=UTC)


def ref(ref_id: str, agency: str, child: str, reasons: dict[str, str], status: str = "new") -> GroupReferral:
    return GroupReferral(ref_id, agency, status, child, reasons, date(2025, 3, 20))


# --------------------------------------------------------------------------- link


def test_two_open_ias_referrals_become_one():
    src = {"ias": ref("r-a", "ias", "A", {"alert:1": "A"})}
    tgt = {"ias": ref("r-b", "ias", "B", {"call:2": "B"})}
    assert merge.link(src, tgt, "B") == [CloseMerged("r-a", "r-b"), MoveReasons("r-a", "r-b", ("alert:1",), "merged")]


def test_an_accepted_source_referral_survives_and_moves_to_the_target_child():
    src = {"ias": ref("r-a", "ias", "A", {"alert:1": "A"}, status="accepted")}
    tgt = {"ias": ref("r-b", "ias", "B", {"call:2": "B"})}
    actions = merge.link(src, tgt, "B")
    assert actions[:2] == [CloseMerged("r-b", "r-a"), MoveReasons("r-b", "r-a", ("call:2",), "merged")]
    assert isinstance(actions[2], Repoint) and actions[2].referral_id == "r-a" and actions[2].child_id == "B"


def test_a_source_referral_without_a_target_one_is_repointed():
    actions = merge.link({"reu": ref("r-a", "reu", "A", {"alert:1": "A"})}, {"ias": ref("r-b", "ias", "B", {})}, "B")
    assert [(type(a), a.referral_id, a.child_id) for a in actions] == [(Repoint, "r-a", "B")]


def test_close_comes_before_the_survivor_is_repointed():
    """The open-referral index allows one per (child, agency) at every statement."""
    src = {"ias": ref("r-a", "ias", "A", {"alert:1": "A"}, status="accepted")}
    tgt = {"ias": ref("r-b", "ias", "B", {})}
    kinds = [type(a) for a in merge.link(src, tgt, "B")]
    assert kinds.index(CloseMerged) < kinds.index(Repoint)


# --------------------------------------------------------------------------- undo


def test_undo_moves_the_source_reasons_to_a_new_referral():
    group = {"ias": ref("r-b", "ias", "B", {"alert:1": "A", "call:2": "B"})}
    actions = merge.split(group, {"A"}, "A", "link-1", 2)
    new_id = referral_id("A", "ias", "alert:1", "split:link-1:v2")
    assert actions == [OpenSplit(new_id, "ias", "A", "r-b", date(2025, 3, 20)), MoveReasons("r-b", new_id, ("alert:1",), "split")]


def test_undo_repoints_a_referral_whose_reasons_all_came_from_the_source():
    group = {"reu": ref("r-a", "reu", "B", {"alert:1": "A"})}
    assert [(type(a), a.child_id, a.action) for a in merge.split(group, {"A"}, "A", "link-1", 2)] == [(Repoint, "A", "split")]


def test_undo_leaves_the_target_only_referrals_alone():
    assert merge.split({"ias": ref("r-b", "ias", "B", {"call:2": "B"})}, {"A"}, "A", "link-1", 2) == []


def test_undo_joins_the_source_childs_own_open_referral():
    group = {"ias": ref("r-b", "ias", "B", {"alert:1": "A", "call:2": "B"})}
    own = {"ias": ref("r-a2", "ias", "A", {"call:9": "A"})}
    assert merge.split(group, {"A"}, "A", "link-1", 2, source_open=own) == [MoveReasons("r-b", "r-a2", ("alert:1",), "split")]


def test_merge_then_split_gives_each_child_its_reasons_back():
    src = {"ias": ref("r-a", "ias", "A", {"alert:1": "A"})}
    tgt = {"ias": ref("r-b", "ias", "B", {"call:2": "B"})}
    moved = [a for a in merge.link(src, tgt, "B") if isinstance(a, MoveReasons)]
    after = {"ias": ref("r-b", "ias", "B", {**tgt["ias"].reasons, **{k: src["ias"].reasons[k] for k in moved[0].keys}})}
    back = [a for a in merge.split(after, {"A"}, "A", "l", 2) if isinstance(a, MoveReasons)]
    assert back[0].keys == ("alert:1",)


# --------------------------------------------------------------------------- links


def link(source: str, target: str, linked: bool = True, version: int = 1, link_id: str | None = None) -> links.Link:
    return links.Link(link_id or f"{source}->{target}", source, target, linked, version, T)


def test_chains_resolve_to_the_last_record():
    out = links.edges([link("A", "B"), link("B", "C")])
    assert links.effective("A", out) == "C" and links.effective("B", out) == "C" and links.effective("C", out) == "C"
    assert links.group("A", out) == {"A", "B", "C"}


def test_an_undone_link_is_no_edge():
    out = links.edges([link("A", "B", linked=False, version=2), link("B", "C")])
    assert links.effective("A", out) == "A"
    assert links.group("B", out) == {"B", "C"}


def test_a_cycle_resolves_to_its_smallest_id_from_anywhere():
    out = links.edges([link("B", "C"), link("C", "B")])
    assert links.effective("B", out) == links.effective("C", out) == "B"


def test_a_record_with_two_links_out_follows_the_newest():
    out = links.edges([link("A", "B", version=1, link_id="l1"), link("A", "C", version=2, link_id="l2")])
    assert links.effective("A", out) == "C"


def test_only_newer_link_versions_count():
    assert links.newer(2, None) and links.newer(3, 2)
    assert not links.newer(2, 2) and not links.newer(1, 2)


# --------------------------------------------------------------------------- group profile


def test_a_group_profile_accumulates_needs_las_and_the_strongest_sen_status():
    base = {"child_id": "B", "la_code": "305", "la_codes": ["305"], "sen_status": "unknown", "sen_needs": [], "suspected_send": False}
    other = {"child_id": "A", "la_code": "334", "la_codes": [], "sen_status": "K", "sen_needs": ["ASD"], "suspected_send": False, "upn": "X"}
    merged = profile.merge(base, [other])
    assert merged["sen_status"] == "K" and merged["sen_needs"] == ["ASD"]
    assert merged["la_codes"] == ["305", "334"] and merged["la_code"] == "305"
    assert merged["child_id"] == "B" and merged["upn"] == "X"


def test_a_record_on_its_own_keeps_its_profile():
    base = {"child_id": "B", "la_code": "305", "la_codes": [], "sen_status": "N"}
    assert profile.merge(base, []) == base
    assert profile.visible_las({"la_code": "305", "la_codes": ["334", "305"]}) == ["305", "334"]
