"""Keyed pseudonyms (issue 12, item 2): Kafka keys, person keys and child ids need the deployment's key."""

from __future__ import annotations

import hashlib
import hmac
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_PSEUDONYM_KEY, build_settings

from schemas import pseudonym
from schemas.pupil import Pupil, child_key, names_key_of_parts, person_key
from services.alerts.domain import linking
from services.common import secrets
from services.intake.app import build_app as intake_app

UPN = "W305541021101"
PUPIL = Pupil(upn=None, first_name="Amara", last_name="Okafor", date_of_birth=date(2011, 3, 14))


@pytest.fixture
def restore_test_key() -> Iterator[None]:
    yield
    pseudonym.configure(TEST_PSEUDONYM_KEY.encode())


def derived() -> list[str]:
    with_upn = PUPIL.model_copy(update={"upn": UPN})
    return [child_key("305", with_upn), person_key("305", PUPIL), names_key_of_parts(PUPIL.date_of_birth, "amara", "okafor"),
            linking.child_id_for_upn(UPN), linking.child_id_for_person(person_key("305", PUPIL)), linking.candidate_id("ch_a", "ch_b")]


def test_every_pseudonym_changes_with_the_key(restore_test_key: None) -> None:
    pseudonym.configure(b"one deployment's key, 32 bytes!!")
    first = derived()
    pseudonym.configure(b"another deployment's key, 32 b!!")
    assert all(a != b for a, b in zip(first, derived(), strict=True))


def test_a_key_is_not_the_unkeyed_hash_of_the_upn() -> None:
    key = child_key("305", PUPIL.model_copy(update={"upn": UPN}))
    assert key != "u:" + hashlib.sha256(UPN.encode()).hexdigest()[:24]  # what enumeration reversed before
    assert UPN not in key and UPN.lower() not in key


def test_without_a_key_nothing_is_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pseudonym, "_base", None)
    with pytest.raises(pseudonym.PseudonymKeyMissing):
        child_key("305", PUPIL)


def test_production_refuses_to_start_without_a_key(tmp_path: Path, restore_test_key: None) -> None:
    settings = build_settings(None, tmp_path, env="production", pseudonym_key=None)
    with pytest.raises(secrets.MissingSecret, match="SIGNPOST_PSEUDONYM_KEY is required"):
        intake_app(settings)
    with pytest.raises(secrets.MissingSecret, match="at least 32"):
        secrets.pseudonym_key(build_settings(None, tmp_path, env="production", pseudonym_key="short"))


def test_dev_generates_one_key_into_the_data_dir_and_keeps_it(tmp_path: Path) -> None:
    settings = build_settings(None, tmp_path / "var", pseudonym_key=None)
    first = secrets.pseudonym_key(settings)
    path = secrets.dev_key_path(settings)
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64 and secrets.pseudonym_key(settings) == first
    assert secrets.pseudonym_key(build_settings(None, tmp_path / "other", pseudonym_key=None)) != first, "one per deployment"


def test_a_new_key_gives_new_pseudonyms_even_for_ids_derived_before(restore_test_key: None) -> None:
    """The memo of derived ids is forgotten with the key (a rotation is a rebuild under the new key)."""
    pseudonym.configure(b"a" * 32)
    before = pseudonym.keyed("child", "p:someone", 16)
    assert pseudonym.keyed("child", "p:someone", 16) == before
    pseudonym.configure(b"b" * 32)
    assert pseudonym.keyed("child", "p:someone", 16) != before


@pytest.mark.parametrize("key", [b"a key of sixteen", b"one deployment's key, 32 bytes!!", b"a key longer than a SHA-256 block " * 3])
def test_a_pseudonym_is_the_hmac_sha256_of_kind_and_value(key: bytes, restore_test_key: None) -> None:
    pseudonym.configure(key)  # the pads are absorbed once per key: the digest must still be RFC 2104's
    for kind, raw in (("upn", UPN), ("person", "305|2011-03-14|okafor|amara"), ("child", "")):
        expected = hmac.new(key, f"{kind}|{raw}".encode(), hashlib.sha256).hexdigest()
        assert pseudonym.keyed(kind, raw, 24) == expected[:24]
        assert pseudonym.keyed(kind, raw, 64) == expected  # and again, from the memo


def test_the_memo_keeps_ids_in_use_and_stays_bounded(monkeypatch: pytest.MonkeyPatch, restore_test_key: None) -> None:
    key = b"one deployment's key, 32 bytes!!"
    pseudonym.configure(key)
    monkeypatch.setattr(pseudonym, "MEMO_SIZE", 10)
    hashed = []

    class Counting:  # the inner hash, counting the ids actually hashed
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def copy(self) -> Any:
            hashed.append(1)
            return self.inner.copy()

    monkeypatch.setattr(pseudonym, "_inner", Counting(pseudonym._inner))
    for i in range(100):
        for raw in (f"v{i}", "v0"):  # v0 is used throughout
            assert pseudonym.keyed("upn", raw, 24) == hmac.new(key, f"upn|{raw}".encode(), hashlib.sha256).hexdigest()[:24]
        assert len(pseudonym._memo) <= 10 and len(pseudonym._old) <= 10
    assert len(hashed) == 100  # each value once: v0 was never forgotten while in use
