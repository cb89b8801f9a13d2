"""Pacing: a token bucket with back-off per lane, and telling AWS throttling apart."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ...model import ActionRecord, Status

#: Error codes AWS uses to say "slow down" (botocore's throttling list, plus STS/S3's).
THROTTLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_THROTTLE_RE: Final = re.compile(r"\b(" + "|".join(sorted(THROTTLE_CODES)) + r")\b")


class Pacer:
    """When the next piece of work in one lane may start: a token bucket plus back-off.

    ``rate`` starts per second (0: unpaced), ``burst`` tokens at most. :meth:`throttled`
    pauses the lane (exponential back-off with jitter, at least ``retry_after``) and
    halves the rate; :meth:`succeeded` wins a tenth of the configured rate back.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.configured = max(0.0, rate)
        self.rate = self.configured
        self.burst = max(1, burst)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._clock = clock
        self._jitter = jitter
        self._tokens = float(self.burst)
        self._updated = clock()
        self.resume_at = 0.0
        self.strikes = 0
        self.throttles = 0
        #: Start slots handed out (each a piece of work that went through this lane).
        self.granted = 0

    def delay(self) -> float:
        """Seconds to wait before starting; 0 means start now (and a token was taken)."""
        now = self._clock()
        if now < self.resume_at:
            return self.resume_at - now
        if self.rate <= 0:
            self.granted += 1
            return 0.0
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self.granted += 1
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Wait for a start slot; False when ``stop`` was set first."""
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.delay()
            if wait <= 0:
                return True
            if stop is None:
                await asyncio.sleep(wait)
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                continue
            return False

    def throttled(self, retry_after: float | None = None) -> float:
        """The lane was throttled: pause it and slow it down; return the pause in seconds."""
        self.strikes += 1
        self.throttles += 1
        cap = min(self.backoff_max, self.backoff * 2.0 ** min(self.strikes - 1, 32))
        pause = cap / 2 + cap / 2 * self._jitter()
        if retry_after is not None:
            pause = max(pause, retry_after)
        now = self._clock()
        self.resume_at = max(self.resume_at, now + pause)
        if self.configured > 0:
            self.rate = max(self.configured / 16, self.rate / 2)
            self._tokens = 0.0
            self._updated = now
        return pause

    def succeeded(self) -> None:
        """Work went through unthrottled: reset the back-off, recover the rate additively."""
        self.strikes = 0
        if self.configured > 0 and self.rate < self.configured:
            self.rate = min(self.configured, self.rate + self.configured / 10)


@dataclass
class Lane:
    pacer: Pacer
    slots: asyncio.Semaphore


def is_throttled(record: ActionRecord) -> bool:
    """True when the action failed because AWS throttled it (not because of the resource)."""
    if record.status is not Status.FAILED:
        return False
    if any(call.error in THROTTLE_CODES for call in record.calls):
        return True
    return throttle_text(record.detail or "")


def throttle_text(text: str) -> bool:
    """True when an error text names one of AWS's throttling codes."""
    return bool(_THROTTLE_RE.search(text))
