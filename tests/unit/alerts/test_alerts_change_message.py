"""The alerts-topic message is built as bytes (a national replay makes ~150k of them): it must be what
pydantic would serialise for the same `AlertChanged`, and what the referrals service reads back."""

from __future__ import annotations

import pytest

from schemas.alerts import AlertChanged
from services.alerts.alerting import change_message
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
