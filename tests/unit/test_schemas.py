"""Behaviour of the payload models in schemas/: UPN, codes, intake events, identity keys."""

from __future__ import annotations

import csv
import string
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas.codes import ExclusionReason, SenNeed
from schemas.intake import CONSENT_RECIPIENTS, Call, Consent, ExclusionNotice, LAReturn
from schemas.pupil import UPN, Pupil, child_key, normalise_name, person_key, upn_key
from schemas.upn import ALPHABET, check_letter, upn_problem

VALID_UPN = "B801200005001"
upn_adapter = TypeAdapter(UPN)


def errors(model, data: dict) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return caught.value.errors()


def locs(model, data: dict) -> list[tuple]:
    return [e["loc"] for e in errors(model, data)]


def pupil(**overrides) -> dict:
    return {
        "upn": VALID_UPN,
        "first_name": "Zoë",
        "last_name": "Smith-Jones",
        "date_of_birth": "2014-05-01",
    } | overrides


def notice(**overrides) -> dict:
    base = {
        "notice_id": "N-1", "school_urn": "101676", "la_code": "305", "pupil": pupil(), "category": "suspension",
        "start_date": "2025-03-03", "sessions": 4, "reason_codes": ["PP"], "notified_at": "2025-03-03T09:00:00Z",
    }  # fmt: skip
    return base | overrides


def call(**overrides) -> dict:
    base = {
        "call_id": "C-1", "received_at": "2025-03-10T14:00:00Z", "received_by": "ias", "caller_role": "parent",
        "la_code": "305", "pupil": pupil(upn=None), "concerns": ["sent_home_informally"],
    }  # fmt: skip
    return base | overrides


def record(record_id: str = "R-1", **overrides) -> dict:
    base = {
        "record_id": record_id, "kind": "suspension", "school_urn": "101676", "pupil": pupil(),
        "start_date": "2025-01-13", "sessions": 2, "reason_codes": ["DB"],
    }  # fmt: skip
    return base | overrides


def la_return(records: list[dict], **overrides) -> dict:
    base = {
        "return_id": "RET-1", "la_code": "305", "period_start": "2025-01-01", "period_end": "2025-03-31",
        "submitted_at": "2025-04-02T10:00:00Z", "records": records,
    }  # fmt: skip
    return base | overrides


# --- UPN ---------------------------------------------------------------------------------------

# csc-validator-be-cin 0.1.13 rule 1510 vectors, as in /work/shared/data/reference/upn_test_vectors.csv
CSC_VECTORS = [
    ("A950000178301", True),
    ("H243278544154", True),
    ("X845212818005", True),
    ("R247962919251", False),
    ("X428558133462", False),
]
VECTORS_CSV = Path("/work/shared/data/reference/upn_test_vectors.csv")


def test_upn_stdnum_vectors() -> None:
    assert upn_adapter.validate_python(VALID_UPN) == VALID_UPN
    assert upn_problem("A801200005001") == "the UPN's check letter does not match"
    assert "never I, O or S" in upn_problem("X80120000A001")
    for bad in ("A801200005001", "X80120000A001"):
        with pytest.raises(ValidationError):
            upn_adapter.validate_python(bad)


@pytest.mark.parametrize(("upn", "check_letter_ok"), CSC_VECTORS)
def test_upn_csc_validator_vectors(upn: str, check_letter_ok: bool) -> None:
    assert (upn_problem(upn) is None) is check_letter_ok


@pytest.mark.skipif(not VECTORS_CSV.exists(), reason="shared reference data not mounted")
def test_upn_vectors_agree_with_the_reference_csv() -> None:
    with VECTORS_CSV.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [
        (r["upn"], r["check_letter_ok"] == "True") for r in rows if r["source"].startswith("csc-validator")
    ] == CSC_VECTORS
    for row in rows:  # the check letter itself, recomputed independently, for every vector
        assert check_letter(row["upn"][1:]) == row["recomputed_check_letter"]


bodies = st.builds(
    lambda digits, last: digits + last,
    st.text("0123456789", min_size=11, max_size=11),
    st.sampled_from("0123456789" + ALPHABET),
)


@given(bodies)
def test_upn_with_its_check_letter_validates_and_any_other_letter_fails(body: str) -> None:
    good = check_letter(body)
    assert upn_adapter.validate_python(good + body) == good + body
    for letter in string.ascii_uppercase.replace(good, ""):
        assert upn_problem(letter + body) is not None


@given(bodies, st.integers(0, 12), st.sampled_from("IOSios"))
def test_upn_rejects_i_o_s_anywhere(body: str, position: int, letter: str) -> None:
    upn = check_letter(body) + body
    with pytest.raises(ValidationError):
        upn_adapter.validate_python(upn[:position] + letter + upn[position + 1 :])


@given(bodies)
def test_upn_is_upper_cased_and_stripped(body: str) -> None:
    upn = check_letter(body) + body
    assert upn_adapter.validate_python(f" \t{upn.lower()}\n ") == upn


def test_upn_accepts_ascii_digits_only() -> None:
    assert upn_problem("B\uff1801200005001") is not None
    assert upn_problem("B\u066801200005001") is not None  # Arabic-Indic 8


# --- reason codes vs SEN needs -----------------------------------------------------------------


def test_ds_is_a_reason_code_and_a_sen_need_in_separate_enums() -> None:
    n = ExclusionNotice.model_validate(
        notice(reason_codes=["DS"], pupil=pupil(sen_status="E", sen_primary_need="DS"))
    )
    assert isinstance(n.reason_codes[0], ExclusionReason) and not isinstance(n.reason_codes[0], SenNeed)
    assert isinstance(n.pupil.sen_primary_need, SenNeed) and not isinstance(
        n.pupil.sen_primary_need, ExclusionReason
    )
    assert type(ExclusionReason.DS) is not type(SenNeed.DS)
    assert ExclusionReason.DS is not SenNeed.DS
    # and the namespaces don't leak into each other
    assert ("reason_codes", 0) in locs(ExclusionNotice, notice(reason_codes=["ASD"]))
    assert ("pupil", "sen_primary_need") in locs(ExclusionNotice, notice(pupil=pupil(sen_primary_need="PP")))


def test_unknown_reason_code_points_at_reason_codes() -> None:
    assert locs(ExclusionNotice, notice(reason_codes=["PP", "XX"])) == [("reason_codes", 1)]


@pytest.mark.parametrize(
    "codes", [[], ["PP", "PA", "VP", "VA"], ["PP", "PP"]], ids=["none", "four", "repeated"]
)
def test_reason_codes_count_and_repeats(codes: list[str]) -> None:
    assert locs(ExclusionNotice, notice(reason_codes=codes)) == [("reason_codes",)]


# --- ExclusionNotice -----------------------------------------------------------------------------


def test_suspension_needs_sessions() -> None:
    (error,) = errors(ExclusionNotice, notice(sessions=None))
    assert "sessions is required for a suspension" in error["msg"]
    assert ExclusionNotice.model_validate(notice(sessions=4)).suspension_sessions == 4


def test_lunchtime_takes_lunchtimes_and_counts_them_as_sessions() -> None:
    n = ExclusionNotice.model_validate(notice(category="lunchtime", sessions=None, lunchtimes=3))
    assert n.suspension_sessions == 3
    assert errors(ExclusionNotice, notice(category="lunchtime", sessions=None))


def test_permanent_needs_neither_sessions_nor_lunchtimes() -> None:
    n = ExclusionNotice.model_validate(notice(category="permanent", sessions=None))
    assert n.suspension_sessions == 0


@pytest.mark.parametrize("field", ["sessions", "lunchtimes"])
def test_zero_sessions_fail(field: str) -> None:
    assert (field,) in locs(ExclusionNotice, notice(category="lunchtime", **{field: 0}))


def test_notice_needs_a_upn() -> None:
    (error,) = errors(ExclusionNotice, notice(pupil=pupil(upn=None)))
    assert "pupil.upn is required" in error["msg"]


BAD_CODES = [("school_urn", v) for v in ("10167", "1016760", "10167A")] + [
    ("la_code", v) for v in ("30", "3050", "3O5")
]


@pytest.mark.parametrize(("field", "value"), BAD_CODES)
def test_urn_is_6_digits_and_la_code_3(field: str, value: str) -> None:
    assert locs(ExclusionNotice, notice(**{field: value})) == [(field,)]


def test_urn_and_la_code_accept_ascii_digits_only() -> None:
    bad = notice(school_urn="\uff11\uff12\uff13\uff14\uff15\uff16", la_code="\u0663\u0660\u0665")
    assert set(locs(ExclusionNotice, bad)) == {("school_urn",), ("la_code",)}


def test_end_date_before_start_date_fails() -> None:
    (error,) = errors(ExclusionNotice, notice(start_date="2025-03-03", end_date="2025-03-02"))
    assert "end_date is before start_date" in error["msg"]


@pytest.mark.parametrize("born", ["2024-01-01", "1997-01-01"], ids=["aged 1", "aged 28"])
def test_pupil_age_outside_2_to_25_fails(born: str) -> None:
    (error,) = errors(ExclusionNotice, notice(pupil=pupil(date_of_birth=born)))
    assert "age" in error["msg"]


def test_pupil_age_bounds_fall_on_birthdays() -> None:
    ExclusionNotice.model_validate(notice(pupil=pupil(date_of_birth="2021-03-01"), start_date="2023-03-01"))
    assert errors(ExclusionNotice, notice(pupil=pupil(date_of_birth="2000-03-01"), start_date="2026-03-01"))


def test_naive_notified_at_is_utc() -> None:
    n = ExclusionNotice.model_validate(notice(notified_at="2025-03-03T09:00:00"))
    assert n.notified_at == datetime(2025, 3, 3, 9, tzinfo=UTC)
    assert n.notified_at.utcoffset() == timedelta(0)
    offset = ExclusionNotice.model_validate(notice(notified_at="2025-06-03T10:00:00+01:00"))
    assert offset.notified_at.tzinfo == UTC and offset.notified_at.hour == 9


def test_unknown_field_is_rejected() -> None:
    (error,) = errors(ExclusionNotice, notice(colour="blue"))
    assert error["type"] == "extra_forbidden" and error["loc"] == ("colour",)
    assert ("pupil", "nickname") in locs(ExclusionNotice, notice(pupil=pupil(nickname="Z")))


# --- Call ------------------------------------------------------------------------------------------


def test_call_upn_is_optional() -> None:
    assert Call.model_validate(call()).pupil.upn is None
    assert Call.model_validate(call(pupil=pupil())).pupil.upn == VALID_UPN


def test_call_needs_a_concern() -> None:
    assert locs(Call, call(concerns=[])) == [("concerns",)]


def test_call_incident_date_after_received_at_fails() -> None:
    (error,) = errors(Call, call(incident_dates=["2025-03-11"]))
    assert "after the call was received" in error["msg"]


def test_call_incident_dates_are_deduplicated_and_sorted() -> None:
    c = Call.model_validate(call(incident_dates=["2025-03-07", "2025-03-03", "2025-03-07", "2025-03-10"]))
    assert c.incident_dates == [date(2025, 3, 3), date(2025, 3, 7), date(2025, 3, 10)]


def test_call_consent_defaults_to_none_given() -> None:
    consent = Call.model_validate(call()).consent
    assert (consent.share_with_la, consent.share_with_ias, consent.share_with_nas) == (False, False, False)


# --- LAReturn ------------------------------------------------------------------------------------


def test_return_period_end_before_start_fails() -> None:
    (error,) = errors(LAReturn, la_return([record()], period_start="2025-03-31", period_end="2025-01-01"))
    assert "period_end is before period_start" in error["msg"]


def test_return_duplicate_record_id_fails() -> None:
    (error,) = errors(LAReturn, la_return([record("R-1"), record("R-2"), record("R-1")]))
    assert "'R-1' appears twice" in error["msg"]


def test_return_bad_record_is_reported_by_index() -> None:
    records = [
        record("R-0"),
        record("R-1", kind="managed_move", sessions=None),
        record("R-2", sessions=None),
        record("R-3"),
    ]
    (error,) = errors(LAReturn, la_return(records))
    assert error["loc"][:2] == ("records", 2)
    assert "sessions is required" in error["msg"]


def test_return_year_group() -> None:
    assert locs(LAReturn, la_return([record(pupil=pupil(year_group="15"))])) == [
        ("records", 0, "pupil", "year_group")
    ]
    r = LAReturn.model_validate(
        la_return([record("R-1", pupil=pupil(year_group="R")), record("R-2", pupil=pupil(year_group=" n1 "))])
    )
    assert [rec.pupil.year_group for rec in r.records] == ["R", "N1"]


# --- identity ------------------------------------------------------------------------------------


def make_pupil(
    first: str = "Zoë", last: str = "Smith-Jones", upn: str | None = None, born: str = "2014-05-01"
) -> Pupil:
    return Pupil(upn=upn, first_name=first, last_name=last, date_of_birth=born)


def test_normalise_name() -> None:
    assert normalise_name("Zoë  Smith-Jones") == normalise_name("zoe smith jones") == "zoesmithjones"


@pytest.mark.parametrize(
    ("a", "b"),
    [("Smith-Jones", "SmithJones"), ("O'Brien", "O Brien"), ("O’Brien", "OBrien"), ("Łukasz", "Lukasz"), ("Bjørn", "Bjorn"),
     ("Ægir", "Aegir"), ("Şule", "Sule"), ("Nguyễn", "Nguyen")],
)
def test_names_compare_as_the_contract_says(a: str, b: str) -> None:
    """Contract: case, accents and other diacritics (transliterated), spaces, hyphens and apostrophes are ignored."""
    assert normalise_name(a) == normalise_name(b)


def test_different_names_stay_different() -> None:
    assert normalise_name("Ann") != normalise_name("Anne")
    assert normalise_name("Lukasz") != normalise_name("Lucas")


def test_person_key_ignores_case_accents_hyphens_and_spaces_but_not_la() -> None:
    key = person_key("305", make_pupil())
    assert person_key("305", make_pupil("ZOE", "  smith jones ")) == key
    assert person_key("305", make_pupil("Zoe\u0308", "Smith - Jones")) == key  # decomposed diaeresis
    assert person_key("306", make_pupil()) != key
    assert person_key("305", make_pupil(born="2014-05-02")) != key
    assert person_key("305", make_pupil("Zoe", "Smith")) != key


words = st.lists(st.text(string.ascii_lowercase, min_size=1, max_size=8), min_size=1, max_size=3)


@given(words, st.data())
def test_person_key_is_stable_under_spelling_variants(name: list[str], data: st.DataObject) -> None:
    def variant(word: str) -> str:
        styled = [data.draw(st.sampled_from([c, c.upper(), c + "\u0301"])) for c in word]  # case, accents
        return unicodedata.normalize("NFC", "".join(styled))

    seps = [data.draw(st.sampled_from([" ", "  ", "-", " - "])) for _ in name[1:]]
    spelled = variant(name[0]) + "".join(sep + variant(w) for sep, w in zip(seps, name[1:], strict=True))
    assert person_key("305", make_pupil(last=spelled)) == person_key("305", make_pupil(last=" ".join(name)))


def test_child_key_uses_the_upn_without_showing_it() -> None:
    with_upn = make_pupil(upn=VALID_UPN)
    key = child_key("305", with_upn)
    assert key == upn_key(VALID_UPN) and VALID_UPN not in key and VALID_UPN.lower() not in key
    assert child_key("204", make_pupil("Someone", "Else", upn=VALID_UPN)) == key  # names and LA don't matter
    assert child_key("305", make_pupil()) == person_key("305", make_pupil()) != key


def test_every_consent_a_family_gives_names_its_recipient() -> None:
    # one map for the ledger, the policy's requires_consent and its consent_* labels (issue 14)
    assert set(CONSENT_RECIPIENTS) == set(Consent.model_fields)
    assert all(recipient == field.removeprefix("share_with_") for field, recipient in CONSENT_RECIPIENTS.items())
