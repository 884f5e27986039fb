"""Unique Pupil Number (UPN): format and mod-23 check letter.

13 characters: a check letter, the 3-digit LA number, the 4-digit DfE establishment
number, 2 digits for the year of issue and a 3-digit serial. A temporary UPN ends in a
letter instead of the last digit. I, O and S are never used.
Source: DfE/GovTalk Data Standards Catalogue, Unique Pupil Number v2.0 (domain.md §2.5).
"""

from __future__ import annotations

import operator
import re

ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O, S
UPN_FORMAT = re.compile(r"[ABCDEFGHJKLMNPQRTUVWXYZ][0-9]{11}[0-9ABCDEFGHJKLMNPQRTUVWXYZ]")  # ASCII digits only; fullmatch


_VALUE = {str(d): d for d in range(10)} | {c: i for i, c in enumerate(ALPHABET)}  # a final letter counts as its index
_WEIGHTS = range(2, 14)


def check_letter(body: str) -> str:
    """The check letter for characters 2-13 of a UPN (weights 2..13, sum mod 23)."""
    if len(body) != 12:
        raise ValueError("a UPN body has 12 characters")
    return ALPHABET[sum(map(operator.mul, _WEIGHTS, map(_VALUE.__getitem__, body))) % 23]  # C-speed: an LA return checks 100k


def upn_problem(upn: str) -> str | None:
    """Why `upn` is not a valid UPN, or None when it is."""
    if len(upn) != 13:
        return "a UPN has 13 characters"
    if not UPN_FORMAT.fullmatch(upn):
        return "a UPN is a check letter, 11 digits and a final digit or letter (never I, O or S)"
    if check_letter(upn[1:]) != upn[0]:
        return "the UPN's check letter does not match"
    return None


def is_temporary(upn: str) -> bool:
    """A temporary UPN ends in a letter; schools should replace it with a permanent one."""
    return upn[-1].isalpha()
