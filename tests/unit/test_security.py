"""Passwords and tokens."""

from __future__ import annotations

from pwdlib.hashers.argon2 import Argon2Hasher

from mongoshop.security import PasswordHasher, new_token, token_digest

hasher = PasswordHasher(Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1))


def test_password_hash_is_argon2_and_verifies_only_the_right_password() -> None:
    stored = hasher.hash("correct horse")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert hasher.verify("correct horse", stored)
    assert not hasher.verify("wrong horse", stored)


def test_verify_without_a_hash_or_with_a_corrupt_one_fails_quietly() -> None:
    assert not hasher.verify("anything", None)
    assert not hasher.verify("anything", "not-a-hash")


def test_tokens_are_random_and_stored_as_a_keyed_digest() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert len(first) >= 43
    digest = token_digest(first, "secret-a")
    assert digest != first
    assert len(digest) == 64
    assert digest == token_digest(first, "secret-a")
    assert digest != token_digest(first, "secret-b")
