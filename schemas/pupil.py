"""The pupil block carried inside every intake event."""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache
from typing import Annotated

from anyascii import anyascii
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from schemas import pseudonym
from schemas.codes import YEAR_GROUPS, SenNeed, SenStatus, is_send
from schemas.upn import upn_problem


def _valid_upn(value: str) -> str:
    problem = upn_problem(value)
    if problem:
        raise ValueError(problem)
    return value


UPN = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_upper=True),
    AfterValidator(_valid_upn),
    Field(description="Unique Pupil Number: 13 characters with a valid mod-23 check letter", examples=["B801200005001"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
URN = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$"), Field(description="6-digit school URN", examples=["101676"])]
LACode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$"), Field(description="3-digit DfE LA code", examples=["305"])]


class Pupil(BaseModel):
    """A child as a school, caller or data team describes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    upn: UPN | None = None
    first_name: Name
    last_name: Name
    date_of_birth: date
    year_group: str | None = Field(default=None, description="N1, N2, R, 1 ... 14")
    sen_status: SenStatus = SenStatus.unknown
    sen_primary_need: SenNeed | None = None
    suspected_send: bool = False
    looked_after: bool = False
    has_social_worker: bool = False

    @field_validator("year_group")
    @classmethod
    def _year_group(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if value not in YEAR_GROUPS:
            raise ValueError(f"year_group must be one of {', '.join(YEAR_GROUPS)}")
        return value

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_birth(cls, value: date) -> date:
        if value.year < 1990:
            raise ValueError("date_of_birth is too far in the past for a pupil")
        if value > date.today():
            raise ValueError("date_of_birth is in the future")
        return value

    @property
    def has_send(self) -> bool:
        """SEND for routing: an EHC plan, SEN support, suspected SEND, or a recorded primary need."""
        return is_send(self.sen_status, self.suspected_send, [self.sen_primary_need] if self.sen_primary_need else ())


@lru_cache(maxsize=65536)  # names repeat (a national year has ~400k children, far fewer names)
def normalise_name(name: str) -> str:
    """Names as the contract compares them: case, accents and other diacritics (transliterated by
    anyascii: Ł is L, ø is o), spaces, hyphens and apostrophes ignored. "Smith-Jones" = "SmithJones",
    "O'Brien" = "O Brien", "Łukasz" = "Lukasz"."""
    return "".join(c for c in anyascii(unicodedata.normalize("NFKC", name)).casefold() if c.isalnum())


def person_key(la_code: str, pupil: Pupil) -> str:
    """The exact-match identity of a child without a UPN: LA, date of birth, normalised names."""
    return person_key_of_parts(la_code, pupil.date_of_birth, normalise_name(pupil.first_name), normalise_name(pupil.last_name))


def person_key_of_parts(la_code: str, date_of_birth: date, first_norm: str, last_norm: str) -> str:
    raw = f"{la_code}|{date_of_birth.isoformat()}|{last_norm}|{first_norm}"
    return "p:" + pseudonym.keyed("person", raw, 24)


def names_key_of_parts(date_of_birth: date, first_norm: str, last_norm: str) -> str:
    """Date of birth and names without the LA: the same child in another LA (a near match, proposed)."""
    return "n:" + pseudonym.keyed("names", f"{date_of_birth.isoformat()}|{last_norm}|{first_norm}", 24)


def upn_key(upn: str) -> str:
    return "u:" + pseudonym.keyed("upn", upn, 24)


def child_key(la_code: str, pupil: Pupil) -> str:
    """The Kafka key of a child's events: pseudonymous, UPN first, else LA + DOB + names.

    Keys are keyed hashes (schemas/pseudonym.py) so that no UPN or name shows in broker tools, nor
    can be recovered from a key by enumeration; one child's events share
    a key and therefore a partition, which keeps them in order.
    """
    return upn_key(pupil.upn) if pupil.upn else person_key(la_code, pupil)
