"""The key's real allowance, read from VirusTotal at start-up and then hourly.

VirusTotal's ``overall_quotas`` says what the key may spend per day and month
and what it has spent, other tools on the same key included. The limits in
force become the lower of the configured and the discovered ones, and the
spent units are taken into the ledger (docs/quota.md). The read goes through
the scheduler like any call, so it is counted (one unit) and throttled; if it
fails, the configuration stands and health says why.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future

from .ledger import Allowance, SharedQuota
from .scheduler import Scheduler
from .upstream import OVERALL_QUOTAS, Call, parse_overall_quotas

INTERVAL = 3600.0
# How long the read may wait for a free unit: it is never urgent.
READ_DEADLINE = 3600.0

logger = logging.getLogger(__name__)


class AllowanceWatch:
    """Reads the key's allowance now and every :data:`INTERVAL` seconds."""

    def __init__(self, scheduler: Scheduler, quota: SharedQuota, interval: float = INTERVAL):
        self._scheduler = scheduler
        self._quota = quota
        self._interval = interval
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self.status = "pending"
        self.checked_at: float | None = None
        self.error: str | None = None
        self.found: Allowance | None = None

    def start(self) -> None:
        self._read()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def _read(self) -> None:
        call = Call(OVERALL_QUOTAS, ())
        deadline = time.time() + READ_DEADLINE
        self._scheduler.submit(call, deadline=deadline).add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        try:
            day, day_used, month, month_used = parse_overall_quotas(future.result()[0])
            if day is None and month is None:
                raise ValueError("the answer names no daily or monthly allowance")
            found = Allowance(day, month, day_used, month_used)
            self._quota.adopt(found)
        except Exception as error:
            self.status, self.error = "failed", getattr(error, "message", str(error))
            logger.warning("Could not read the key's allowance (%s); the configuration stands",
                           self.error)  # fmt: skip
        else:
            self.status, self.error, self.found = "ok", None, found
            limits = self._quota.limits
            logger.info(
                "VirusTotal allows the key %s units a day (%s used) and %s a month (%s used); "
                "in force: %s a day, %s a month",
                day, day_used, month, month_used, limits.per_day, limits.per_month,
            )  # fmt: skip
        self.checked_at = time.time()
        with self._lock:
            if not self._stopped:
                self._timer = threading.Timer(self._interval, self._read)
                self._timer.daemon = True
                self._timer.start()

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "checked_at": self.checked_at,
            "error": self.error,
            "found": self.found.to_json() if self.found else None,
        }
