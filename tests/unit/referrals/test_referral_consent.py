"""domain/consent.py: the consent ledger, latest word first; an unticked box is not a withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.intake import Consent
from services.referrals.domain.consent import ConsentRecord, current, from_call, keeps_consent

T0 = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)


def rec(recipient: str, granted: bool, minutes: int, source: str = "x") -> ConsentRecord:
    return ConsentRecord(recipient, granted, T0 + timedelta(minutes=minutes), source)


def test_no_record_means_no_consent():
    assert current([], "nas") is False
    assert current([rec("ias", True, 0)], "nas") is False


def test_a_grant_stands():
    assert current([rec("nas", True, 0)], "nas") is True


def test_withdrawal_after_grant():
    assert current([rec("nas", True, 0), rec("nas", False, 5)], "nas") is False


def test_grant_after_withdrawal():
    assert current([rec("nas", True, 0), rec("nas", False, 5), rec("nas", True, 10)], "nas") is True


def test_latest_record_wins_whatever_the_list_order():
    records = [
        rec("nas", True, 10, "call:late"),
        rec("nas", False, 5, "api"),
        rec("nas", True, 0, "call:early"),
    ]
    assert current(records, "nas") is True
    records = [rec("nas", False, 10, "api"), rec("nas", True, 5, "call:b"), rec("nas", True, 0, "call:a")]
    assert current(records, "nas") is False


def test_a_grant_recorded_before_a_withdrawal_but_arriving_later_does_not_undo_it():
    records = [
        rec("nas", False, 10, "api"),
        rec("nas", True, 3, "call:old"),
    ]  # the old call's record arrives late
    assert current(records, "nas") is False


def test_withdrawal_and_grant_at_the_same_instant_withdrawal_wins():
    assert current([rec("nas", True, 0), rec("nas", False, 0)], "nas") is False
    assert current([rec("nas", False, 0), rec("nas", True, 0)], "nas") is False


def test_recipients_are_independent():
    records = [rec("nas", True, 0), rec("ias", False, 5), rec("la", True, 1)]
    assert current(records, "nas") is True
    assert current(records, "ias") is False
    assert current(records, "la") is True


def test_from_call_records_each_ticked_box():
    records = from_call("C-1", Consent(share_with_la=True, share_with_ias=False, share_with_nas=True), T0)
    assert {(r.recipient, r.granted, r.at, r.source) for r in records} == {
        ("la", True, T0, "call:C-1"),
        ("nas", True, T0, "call:C-1"),
    }


def test_unticked_box_is_not_a_withdrawal():
    assert (
        from_call("C-2", Consent(share_with_la=False, share_with_ias=False, share_with_nas=False), T0) == []
    )
    assert from_call("C-3", None, T0) == []
    assert from_call("C-4", Consent(), T0) == []
    # a later call with the box unticked leaves an earlier grant standing
    ledger = from_call("C-5", Consent(share_with_nas=True), T0) + from_call(
        "C-6", Consent(share_with_nas=False), T0 + timedelta(days=1)
    )
    assert current(ledger, "nas") is True


def test_only_ias_among_the_agencies_keeps_a_familys_consent():
    """Issue 10: consent from the child page by the inclusion team and IAS; IAS only for its own children (the API checks)."""
    assert keeps_consent("ias")
    assert not any(keeps_consent(a) for a in ("nas", "reu", "exclusions_officer", "virtual_school", "ace", "coram", None))
