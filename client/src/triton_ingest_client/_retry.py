"""Finite retries with exponential backoff and jitter, for retryable errors only."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from ._errors import TritonIngestClientError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` extra attempts (default 5), sleeping ``base * 2**attempt`` (capped) with jitter."""

    retries: int = 5
    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.base * 2**attempt) * (0.5 + random.random() / 2)

    def call(self, fn: Callable[[], T], on_retry: Callable[[int, Exception], None] | None = None) -> T:
        """Run ``fn``; retry on errors whose ``retryable`` is true; re-raise the last one."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except TritonIngestClientError as exc:
                if not exc.retryable or attempt == self.retries:
                    raise
                if on_retry is not None:
                    on_retry(attempt + 1, exc)
                time.sleep(self.delay(attempt))
        raise AssertionError("unreachable")

    async def call_async(self, fn: Callable[[], Awaitable[T]]) -> T:
        """:meth:`call` for coroutines: the same retries, sleeping on the event loop."""
        for attempt in range(self.retries + 1):
            try:
                return await fn()
            except TritonIngestClientError as exc:
                if not exc.retryable or attempt == self.retries:
                    raise
                await asyncio.sleep(self.delay(attempt))
        raise AssertionError("unreachable")
