"""Keyed fingerprints: stable, keyed, name-bound, rotatable."""

from __future__ import annotations

import hashlib

import pytest
from keyvault_platform.sync import fingerprint as fp

KEY_A = "a" * 16 + "-first-key-for-tests-0123456789"
KEY_B = "b" * 16 + "-second-key-for-tests-987654321"


def test_fingerprint_is_stable_and_keyed() -> None:
    a = fp.FingerprintKey.from_text(KEY_A)
    b = fp.FingerprintKey.from_text(KEY_B)
    assert a.fingerprint("acme--db", "pw") == a.fingerprint("acme--db", "pw")
    assert a.fingerprint("acme--db", "pw") != b.fingerprint("acme--db", "pw")
    assert a.key_id != b.key_id


def test_fingerprint_is_not_a_plain_hash() -> None:
    tag = fp.FingerprintKey.from_text(KEY_A).fingerprint("acme--db", "Summer2026!")
    assert hashlib.sha256(b"Summer2026!").hexdigest() not in tag
    assert "Summer2026!" not in tag
    assert len(tag) <= 256  # a tag value's limit


def test_fingerprint_binds_the_name_case_insensitively() -> None:
    key = fp.FingerprintKey.from_text(KEY_A)
    assert key.fingerprint("acme--a", "same") != key.fingerprint("acme--b", "same")
    assert key.fingerprint("ACME--A", "same") == key.fingerprint("acme--a", "same")


def test_key_id_does_not_reveal_the_key() -> None:
    key = fp.FingerprintKey.from_text(KEY_A)
    assert key.key_id not in KEY_A and len(key.key_id) == 8
    assert KEY_A not in repr(key)


def test_verdicts() -> None:
    old = fp.FingerprintKey.from_text(KEY_A)
    new = fp.FingerprintKey.from_text(KEY_B)
    ring = fp.Keyring(new, (old,))
    assert ring.verify(new.fingerprint("n", "v"), "n", "v") is fp.Verdict.MATCH
    assert ring.verify(old.fingerprint("n", "v"), "n", "v") is fp.Verdict.MATCH_PREVIOUS_KEY
    assert ring.verify(new.fingerprint("n", "v"), "n", "other") is fp.Verdict.MISMATCH
    assert fp.Keyring(new).verify(old.fingerprint("n", "v"), "n", "v") is fp.Verdict.UNKNOWN_KEY
    assert ring.verify(None, "n", "v") is fp.Verdict.MISSING
    assert ring.verify("sha256:abc", "n", "v") is fp.Verdict.MISSING


def test_load_keyring_from_the_environment() -> None:
    ring, development = fp.load_keyring({fp.KEY_ENV: KEY_B, fp.PREVIOUS_KEY_ENV: KEY_A})
    assert not development
    assert ring.current.key_id == fp.FingerprintKey.from_text(KEY_B).key_id
    assert [k.key_id for k in ring.previous] == [fp.FingerprintKey.from_text(KEY_A).key_id]


def test_missing_key_is_an_error_unless_development_allowed() -> None:
    with pytest.raises(fp.FingerprintKeyError, match="SYNC_FINGERPRINT_KEY is not set"):
        fp.load_keyring({})
    ring, development = fp.load_keyring({}, allow_development_key=True)
    assert development
    assert ring.current.key_id == fp.FingerprintKey.from_text(fp.DEVELOPMENT_KEY).key_id


def test_short_keys_are_refused_without_echoing_them() -> None:
    with pytest.raises(fp.FingerprintKeyError) as caught:
        fp.load_keyring({fp.KEY_ENV: "tooshort-secret"})
    assert "tooshort-secret" not in str(caught.value)
