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


def test_argon2_is_a_bounded_resource_past_which_callers_are_refused() -> None:
    """One slot, one waiter: a third caller is refused at once, the waiter after its wait,
    and once the slot is free again everyone is served (issue 21: 12 threads of one
    account made another user's sign-in take 4.3 s instead of 0.4 s)."""
    import threading

    import pytest

    from mongoshop.errors import Busy

    gated = PasswordHasher(
        Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),
        slots=1,
        max_waiting=1,
        wait_seconds=0.3,
    )
    stored = gated.hash("correct horse")
    release, entered = threading.Event(), threading.Event()
    inner = gated._hasher

    class Slow:
        hashers = inner.hashers

        def verify(self, password: str, password_hash: str) -> bool:
            entered.set()
            release.wait(5)
            return inner.verify(password, password_hash)

    gated._hasher = Slow()  # type: ignore[assignment]
    holder = threading.Thread(target=gated.verify, args=("correct horse", stored))
    holder.start()
    waiter_result: list[BaseException | bool] = []

    def wait_for_a_slot() -> None:
        try:
            waiter_result.append(gated.verify("correct horse", stored))
        except Busy as exc:
            waiter_result.append(exc)

    waiter = threading.Thread(target=wait_for_a_slot)
    try:
        import time

        assert entered.wait(5)  # the holder has the slot
        waiter.start()
        deadline = time.monotonic() + 5
        while gated._waiting == 0:  # the waiter waits for it
            assert time.monotonic() < deadline
            time.sleep(0.001)
        with pytest.raises(Busy):
            gated.verify("correct horse", stored)  # nobody else may wait
        waiter.join(2)
        assert isinstance(waiter_result[0], Busy)  # its wait ended first
    finally:
        release.set()
        holder.join(5)
    gated._hasher = inner
    assert gated.verify("correct horse", stored)


async def test_async_callers_are_refused_past_the_queue_bound_at_once_off_the_loops_pool() -> None:
    """Issue 21 #6: the async face waited for a slot inside the event loop's default pool
    (min(32, CPUs + 4) threads), so the queue bound was never reached: a flood queued
    without bound in that pool, which also resolves webhook hosts. Now a call is admitted
    on the event loop (past slots + max_waiting: `Busy` at once) and waits in the
    hasher's own threads."""
    import asyncio
    import threading
    import time

    import pytest

    from mongoshop._async.compat import verify_password
    from mongoshop.errors import Busy

    gated = PasswordHasher(
        Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),
        slots=1,
        max_waiting=40,  # more than any default pool has threads (32 at most)
        wait_seconds=5,
    )
    stored = gated.hash("correct horse")
    release = threading.Event()
    inner = gated._hasher

    class Slow:
        hashers = inner.hashers

        def verify(self, password: str, password_hash: str) -> bool:
            release.wait(5)
            return inner.verify(password, password_hash)

    gated._hasher = Slow()  # type: ignore[assignment]
    admitted = [
        asyncio.create_task(verify_password(gated, "correct horse", stored)) for _ in range(41)
    ]
    await asyncio.sleep(0.2)
    started = time.monotonic()
    with pytest.raises(Busy):
        await asyncio.wait_for(verify_password(gated, "correct horse", stored), 2)
    assert time.monotonic() - started < 0.5, "refused at once, not after a wait"
    # The loop's default pool is free for everything else meanwhile.
    assert await asyncio.wait_for(asyncio.to_thread(lambda: "free"), 1) == "free"
    release.set()
    assert await asyncio.gather(*admitted) == [True] * 41
    assert await verify_password(gated, "correct horse", stored), "places are given back"
