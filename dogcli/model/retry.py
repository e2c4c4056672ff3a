"""The one retry policy: backoff doubling from a base, capped, jittered; Retry-After wins."""

from __future__ import annotations

import random

from tenacity import RetryCallState

MAX_BACKOFF = 60.0


class BackoffWait:
    def __init__(self, base: float, cap: float = MAX_BACKOFF) -> None:
        self.base = base
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after: float | None = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        delay: float = min(self.cap, self.base * 2.0 ** (state.attempt_number - 1))
        return delay * random.uniform(0.5, 1.0)
