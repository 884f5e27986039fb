"""The identity provider's groups → a person's roles, agency and LAs (services/web/people.py)."""

from __future__ import annotations

import pytest

from services.web.people import GroupsFileError, load_groups, parse_groups, person_from_claims

GROUPS = parse_groups("""
groups:
  team-305: {roles: [inclusion_team], la_codes: [305]}
  team-334: {roles: [inclusion_team], la_codes: [334]}
  team-all: {roles: [inclusion_team]}
  ias: {roles: [agency], agency: ias}
  nas: {roles: [agency], agency: nas}
""")


def test_a_mapped_group_grants_its_roles_and_las() -> None:
    who = person_from_claims({"sub": "u1", "name": "Ines", "groups": ["team-305", "unrelated"]}, GROUPS)
    assert who is not None and who.roles == {"inclusion_team"} and who.la_codes == {"305"} and who.name == "Ines" and who.is_team


def test_las_join_across_groups_and_one_unlimited_group_means_every_la() -> None:
    assert person_from_claims({"sub": "u", "groups": ["team-305", "team-334"]}, GROUPS).la_codes == {"305", "334"}  # type: ignore[union-attr]
    assert person_from_claims({"sub": "u", "groups": ["team-305", "team-all"]}, GROUPS).la_codes is None  # type: ignore[union-attr]


def test_no_mapped_group_no_sign_in() -> None:
    assert person_from_claims({"sub": "u", "groups": ["someone-else"]}, GROUPS) is None
    assert person_from_claims({"sub": "u"}, GROUPS) is None


def test_two_agencies_grant_neither() -> None:
    assert person_from_claims({"sub": "u", "groups": ["ias", "nas"]}, GROUPS) is None
    who = person_from_claims({"sub": "u", "groups": ["ias"]}, GROUPS)
    assert who is not None and who.agency == "ias" and who.is_agency and not who.is_team


def test_a_person_survives_the_session_round_trip() -> None:
    who = person_from_claims({"sub": "u", "email": "u@x", "groups": ["team-305"]}, GROUPS)
    assert who is not None and type(who).from_session(who.as_session()) == who


def test_bad_groups_files_are_refused() -> None:
    with pytest.raises(GroupsFileError):
        parse_groups("groups: {x: {roles: [intake]}}")  # machines' roles are not for people
    with pytest.raises(GroupsFileError):
        parse_groups("groups: {x: {roles: [agency]}}")


def test_the_dev_groups_file_loads() -> None:
    assert {"signpost-inclusion-team", "signpost-ias", "signpost-nas"} <= set(load_groups(None))
