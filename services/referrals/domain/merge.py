"""Links and undos applied to referrals, pure: the two groups' open referrals → actions.

A link (source is target from now on) merges the source group's open referrals into the target
group's, per agency, so one open referral per (child, agency) holds afterwards:
- only the source has one → it is re-pointed to the target child (history `merged`);
- both have one → the survivor is the one an agency has already accepted, else the target's; the
  other's reasons move into it and the emptied referral is closed with outcome
  "merged into <survivor>" (history `merged` on both).
An undo splits them back: on each open referral of the former group, the reasons whose trigger
was about a record of the source group move to a referral of the source child: the whole
referral is re-pointed when all its reasons move, else a new referral (status new, same due date)
takes them (history `split` on both). Closed and declined referrals stay as they were: history.
The desk then re-routes the groups' triggers (held reasons, a profile that became SEND).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date

from services.referrals.domain.decide import referral_id


@dataclass(frozen=True, slots=True)
class GroupReferral:
    """An open referral with the record each of its reasons came from."""

    id: str
    agency: str
    status: str
    child_id: str  # the effective child it is kept on
    reasons: Mapping[str, str]  # reason key → the trigger's record child id
    due_by: date | None = None


@dataclass(frozen=True, slots=True)
class MoveReasons:
    from_id: str
    to_id: str
    keys: tuple[str, ...]
    action: str  # merged | split


@dataclass(frozen=True, slots=True)
class CloseMerged:
    referral_id: str
    into_id: str


@dataclass(frozen=True, slots=True)
class Repoint:
    referral_id: str
    child_id: str
    action: str  # merged | split
    detail: str


@dataclass(frozen=True, slots=True)
class OpenSplit:
    referral_id: str
    agency: str
    child_id: str
    from_id: str
    due_by: date | None


MergeAction = MoveReasons | CloseMerged | Repoint | OpenSplit


def link(source_open: Mapping[str, GroupReferral], target_open: Mapping[str, GroupReferral], target_child: str) -> list[MergeAction]:
    """Actions of a link: the source group's open referrals (by agency) join the target's."""
    actions: list[MergeAction] = []
    for agency in sorted(source_open):
        src = source_open[agency]
        tgt = target_open.get(agency)
        if tgt is None or tgt.id == src.id:
            if src.child_id != target_child:
                actions.append(Repoint(src.id, target_child, "merged", f"linked into child {target_child}"))
            continue
        survivor, other = (src, tgt) if src.status == "accepted" and tgt.status != "accepted" else (tgt, src)
        actions.append(CloseMerged(other.id, survivor.id))  # first: the open-referral index allows one
        actions.append(MoveReasons(other.id, survivor.id, tuple(sorted(other.reasons)), "merged"))
        if survivor.child_id != target_child:
            actions.append(Repoint(survivor.id, target_child, "merged", f"linked into child {target_child}"))
    return actions


def split(
    group_open: Mapping[str, GroupReferral],
    source_group: Set[str],
    source_child: str,
    link_id: str,
    link_version: int,
    source_open: Mapping[str, GroupReferral] | None = None,
) -> list[MergeAction]:
    """Actions of an undo: what came from the source group goes back to `source_child` (into its own
    open referral at that agency if it has one: one open referral per child and agency)."""
    actions: list[MergeAction] = []
    for agency in sorted(group_open):
        ref = group_open[agency]
        moving = tuple(sorted(k for k, cid in ref.reasons.items() if cid in source_group))
        if not moving:
            continue
        own = (source_open or {}).get(agency)
        if own is not None and own.id != ref.id:
            if len(moving) == len(ref.reasons):
                actions.append(CloseMerged(ref.id, own.id))
            actions.append(MoveReasons(ref.id, own.id, moving, "split"))
            continue
        if len(moving) == len(ref.reasons):
            actions.append(Repoint(ref.id, source_child, "split", f"link {link_id} undone: back to child {source_child}"))
            continue
        new_id = referral_id(source_child, agency, moving[0], f"split:{link_id}:v{link_version}")
        actions.append(OpenSplit(new_id, agency, source_child, ref.id, ref.due_by))
        actions.append(MoveReasons(ref.id, new_id, moving, "split"))
    return actions
