"""The wait before a retry: exponential, capped, jittered, and never before Retry-After.

Through the webhook deliverer, which passes its settings and a receiver's
Retry-After to the rule every queue shares (the mail sender's is in
tests/unit/worker/test_mail_sender.py)."""

from __future__ import annotations

import pytest

from mongoshop.settings import Settings
from mongoshop.worker.webhook_deliverer import WebhookDeliverer


def deliverer(**settings: float) -> WebhookDeliverer:
    config = Settings(
        environment="test",
        webhook_retry_base_seconds=settings.get("base", 10),
        webhook_max_backoff_seconds=settings.get("cap", 3600),
    )
    return WebhookDeliverer(None, None, None, config)  # type: ignore[arg-type]


@pytest.mark.parametrize(("attempts", "full"), [(1, 10), (2, 20), (3, 40), (6, 320), (9, 2560)])
def test_the_delay_doubles_with_half_of_it_random(attempts: int, full: float) -> None:
    delays = [deliverer().backoff(attempts) for _ in range(300)]
    assert min(delays) >= full / 2
    assert max(delays) <= full
    assert max(delays) - min(delays) > full / 4, "jittered, not the same for everyone"


def test_the_delay_is_capped() -> None:
    assert all(deliverer(cap=60).backoff(30) <= 60 for _ in range(50))
    assert all(deliverer(cap=60).backoff(10_000) <= 60 for _ in range(50))


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert deliverer().backoff(1, retry_after=120) == 120
    assert deliverer(cap=60).backoff(1, retry_after=86_400) == 60
    assert 5 <= deliverer().backoff(1, retry_after=0) <= 10
