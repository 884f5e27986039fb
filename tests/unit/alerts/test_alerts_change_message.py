"""The alerts-topic message is built as bytes (a national replay makes ~150k of them): it must be what
pydantic would serialise for the same `AlertChanged`, and what the referrals service reads back."""

from __future__ import annotations

import pytest

from schemas.alerts import AlertChanged
from services.alerts.alerting import AlertBook, change_message, freeze, lean, thaw
from services.alerts.domain import lifecycle
from services.alerts.domain.profile import Source, merge_profile
from tests.unit.alerts.test_alerts_lifecycle import T1, make_finding

PUPIL = {"upn": "A123456789012", "first_name": "Zoë", "last_name": "O'Brien", "date_of_birth": "2012-02-29", "year_group": "7",
         "sen_status": "K", "sen_primary_need": "ASD", "looked_after": True}  # fmt: skip


def _alert():
    change = lifecycle.apply_finding(None, make_finding(), upn=PUPIL["upn"], now=T1)
    assert change is not None
    return change.alert


def _profile(**pupil):
    profile, _times, _ = merge_profile(None, None, child_id="ch_1", source=Source("2024-01-01T00:00:00+00:00", "notice:1", "202", "100000", True,
                                                                                   {**PUPIL, **pupil}))  # fmt: skip
    return profile


@pytest.mark.parametrize("profile", [_profile(), _profile(upn=None, sen_primary_need=None, looked_after=False), None], ids=["full", "sparse", "none"])
@pytest.mark.parametrize("change", ["raised", "evidence", "updated", "status"])
def test_the_message_is_what_pydantic_would_serialise(profile, change):
    alert = _alert()
    message = change_message(alert, change, profile)
    expected = AlertChanged(alert=alert, change=change, child=profile).model_dump_json().encode()
    assert message.value == expected
    assert AlertChanged.model_validate_json(message.value).child == (AlertChanged(alert=alert, change=change, child=profile).child)


def test_a_profile_stored_by_an_older_version_gets_the_fields_it_lacks_as_their_defaults():
    profile = {k: v for k, v in _profile().items() if k in ("child_id", "la_code", "first_name", "last_name", "date_of_birth")}
    message = change_message(_alert(), "raised", profile)
    assert message.value == AlertChanged(alert=_alert(), change="raised", child=profile).model_dump_json().encode()


def test_a_profile_without_a_required_field_or_an_unknown_change_is_refused():
    profile = _profile()
    del profile["date_of_birth"]
    with pytest.raises(KeyError):
        change_message(_alert(), "raised", profile)
    with pytest.raises(ValueError, match="unknown alert change"):
        change_message(_alert(), "deleted", _profile())


def test_an_alert_the_book_caches_serialises_copies_and_compares_as_before():
    """The book's alerts share one set of field names (`lean`, ~2.2 KB an alert less): nothing a reader
    sees may change, and a change to one cached alert (a copy, as lifecycle makes) must not reach another."""
    alert, other = _alert(), _alert().model_copy(update={"id": "al_other"})
    before, other_before = alert.model_dump_json(), other.model_dump_json()
    lean(alert), lean(other)
    assert alert.__pydantic_fields_set__ is other.__pydantic_fields_set__  # shared, not one per alert
    assert alert.model_dump_json() == before and other.model_dump_json() == other_before
    assert AlertChanged.model_validate_json(change_message(alert, "raised", None).value).alert == alert
    acknowledged = alert.model_copy(update={"status": "acknowledged", "version": alert.version + 1})
    assert (acknowledged.status, acknowledged.version) == ("acknowledged", alert.version + 1)
    assert (alert.status, alert.version) == ("open", 1) and other.model_dump_json() == other_before
    assert alert == _alert()


def test_an_alert_the_book_freezes_thaws_to_the_same_alert_when_next_used():
    """Between batches the child stage has the book freeze all but its most recently used alerts
    (alerting.freeze): a cold alert is the same alert when it is next read, and the bound counts it."""
    book = AlertBook(None, ["suspension_days_nearing_limit"])  # type: ignore[arg-type]  # no store: nothing here reads it
    alerts = [_alert().model_copy(update={"id": f"al_{n}", "evidence": [f"notice:{n}", "notice:x"]}) for n in range(3)]
    for alert in alerts:
        book.cache[alert.id] = lean(alert)
    assert book._get("al_0") is alerts[0]  # noqa: SLF001  # used: now the most recent
    book.freeze(1)
    assert list(book.cache) == ["al_0"] and sorted(book.cold) == ["al_1", "al_2"] and book.held() == 3
    thawed = book._get("al_2")  # noqa: SLF001
    assert thawed == alerts[2] and thawed is not alerts[2] and thawed.__pydantic_fields_set__ is alerts[0].__pydantic_fields_set__
    assert "al_2" not in book.cold and list(book.cache) == ["al_0", "al_2"] and book.held() == 3
    assert thaw(freeze(alerts[1])).model_dump_json() == alerts[1].model_dump_json()
