"""The simulator's mutable state: settings, the injected fault, quota windows, counters.

One lock guards all of it, because request threads and the control endpoints
touch it at the same time. The settings a simulator starts with are its
defaults, restored by ``reset(settings=True)``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .quota import WINDOWS, Quota

FAULTS = ("http500", "garbage", "hang", "reject_key", "reset", "dribble")
HANG_LIMIT_SECONDS = 600.0  # a hung call gives up by itself after this long
LOG_ENTRIES = 10_000  # metered calls the log keeps, the newest
PUBLIC_BATCH, PREMIUM_BATCH = 4, 25  # v2 resources a key gets answered per call


def _check_count(name: str, value: Any, minimum: int, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise ValueError(f"{name} must be {allowed}, not {value!r}")


@dataclass(frozen=True)
class Settings:
    """How the simulated VirusTotal behaves; quotas of ``None`` are unlimited."""

    api_key: str
    latency_ms: int = 0
    quota_per_minute: int | None = None
    quota_per_hour: int | None = None
    quota_per_day: int | None = None
    quota_per_month: int | None = None
    premium: bool = False
    dribble_ms: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, str) or not self.api_key:
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(self.premium, bool):
            raise ValueError(f"premium must be true or false, not {self.premium!r}")
        _check_count("latency_ms", self.latency_ms, 0)
        _check_count("dribble_ms", self.dribble_ms, 1)
        for window in WINDOWS:
            _check_count(f"quota_{window}", getattr(self, f"quota_{window}"), 0, optional=True)

    @property
    def batch_limit(self) -> int:
        """v2 resources answered per call: 4 for a public key, 25 for a premium one."""
        return PREMIUM_BATCH if self.premium else PUBLIC_BATCH

    @property
    def quota_limits(self) -> dict[str, int | None]:
        return {window: getattr(self, f"quota_{window}") for window in WINDOWS}


@dataclass(frozen=True)
class Fault:
    """An injected failure: ``mode`` from :data:`FAULTS`, for ``remaining`` calls or all."""

    mode: str
    remaining: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)} or None, not {self.mode!r}")
        _check_count("fault_count", self.remaining, 1, optional=True)


@dataclass
class Counters:
    calls: int = 0
    calls_by_endpoint: Counter = field(default_factory=Counter)
    units: int = 0
    units_by_endpoint: Counter = field(default_factory=Counter)
    resources_by_endpoint: dict[str, list[str]] = field(default_factory=dict)
    quota_refusals: int = 0
    faults_injected: int = 0
    statuses: Counter = field(default_factory=Counter)
    in_progress: int = 0
    # Each metered call: when the quota counted it, and what it cost (the newest LOG_ENTRIES).
    log: deque = field(default_factory=lambda: deque(maxlen=LOG_ENTRIES))


class SimulatorState:
    """Everything the request threads and the control endpoints share."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._in_progress_changed = threading.Condition(self._lock)
        self._defaults = settings
        self._settings = settings
        self._fault: Fault | None = None
        self._quota = Quota(settings.quota_limits, clock)
        self._clock = clock
        self._counters = Counters()
        self._hang_release = threading.Event()
        self.stopping = threading.Event()

    @property
    def settings(self) -> Settings:
        return self._settings

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply keyword settings (see ``control.SimulatorControl.configure``)."""
        changes = dict(changes)
        known = {item.name for item in fields(Settings)} | {"fault", "fault_count"}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        if "fault_count" in changes and "fault" not in changes:
            raise ValueError("fault_count is only given together with fault")
        with self._lock:
            fault = self._fault
            if "fault" in changes:
                mode, count = changes.pop("fault"), changes.pop("fault_count", None)
                fault = None if mode is None else Fault(mode, count)
            self._apply(replace(self._settings, **changes))
            self._fault = fault
            return self._public_settings()

    def reset(self, *, settings: bool = False) -> None:
        """Clear counters, quota windows and the fault (releasing hung calls);
        with ``settings`` also go back to the start-up settings."""
        with self._lock:
            self._counters = Counters(in_progress=self._counters.in_progress)
            self._quota.clear()
            self._fault = None
            self._hang_release.set()
            self._hang_release = threading.Event()
            if settings:
                self._apply(self._defaults)

    def _apply(self, settings: Settings) -> None:
        self._settings = settings
        self._quota.set_limits(settings.quota_limits)

    def stop(self) -> None:
        """Let every waiting call go: latency pauses and hangs end now."""
        self.stopping.set()
        with self._lock:
            self._hang_release.set()

    # -- what request threads call, in this order ---------------------------------------

    def begin(self, endpoint: str, resources: list[str]) -> None:
        with self._lock:
            counters = self._counters
            counters.calls += 1
            counters.calls_by_endpoint[endpoint] += 1
            counters.resources_by_endpoint.setdefault(endpoint, []).extend(resources)
            counters.in_progress += 1
            self._in_progress_changed.notify_all()

    def pause(self) -> None:
        """The configured latency; cut short when the simulator stops."""
        self.stopping.wait(self._settings.latency_ms / 1000)

    def take_fault(self) -> str | None:
        """The fault this call suffers, if any, counting it against ``fault_count``."""
        with self._lock:
            fault = self._fault
            if fault is None:
                return None
            self._counters.faults_injected += 1
            if fault.remaining is not None:
                left = fault.remaining - 1
                self._fault = Fault(fault.mode, left) if left else None
            return fault.mode

    @property
    def release(self) -> threading.Event:
        """Set by the next reset or stop: what hung and dribbling calls wait on."""
        with self._lock:
            return self._hang_release

    def hang(self) -> None:
        """Block until reset, stop, or :data:`HANG_LIMIT_SECONDS`."""
        self.release.wait(HANG_LIMIT_SECONDS)

    def admit(self, endpoint: str, units: int, resources: Sequence[str] = ()) -> bool:
        """Whether the quota has ``units`` for this call; a refusal is counted, and uses none.
        An admitted call is logged with the time the quota counted it."""
        with self._lock:
            if self._quota.try_acquire(units):
                self._counters.units += units
                self._counters.units_by_endpoint[endpoint] += units
                entry = {"at": self._clock(), "endpoint": endpoint,
                         "resources": list(resources), "units": units}  # fmt: skip
                self._counters.log.append(entry)
                return True
            self._counters.quota_refusals += 1
            return False

    def consume(self, units: int) -> None:
        """Units of this key spent by another tool: they fill the windows, not the counters."""
        _check_count("units", units, 1)
        with self._lock:
            self._quota.consume(units)

    def quota_usage(self) -> dict[str, dict[str, int | None]]:
        with self._lock:
            return self._quota.usage()

    def end(self, status: int | None) -> None:
        """``status`` None: the call was dropped without an answer (a hang that ended)."""
        with self._lock:
            self._counters.statuses["no_answer" if status is None else str(status)] += 1
            self._counters.in_progress -= 1
            self._in_progress_changed.notify_all()

    # -- observation ------------------------------------------------------------------------

    def wait_in_progress(self, count: int, timeout: float) -> bool:
        """Wait until at least ``count`` calls are in progress (a test's sync point)."""
        with self._in_progress_changed:
            return self._in_progress_changed.wait_for(
                lambda: self._counters.in_progress >= count, timeout
            )

    def _public_settings(self) -> dict[str, Any]:
        settings = asdict(self._settings)
        del settings["api_key"]  # stats get logged and printed; the key stays out of them
        fault = self._fault
        return settings | {
            "fault": fault.mode if fault else None,
            "fault_count": fault.remaining if fault else None,
        }

    def log(self) -> list[dict[str, Any]]:
        """The metered calls since the last reset, oldest first (the newest LOG_ENTRIES)."""
        with self._lock:
            return list(self._counters.log)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counters = self._counters
            return {
                "calls": counters.calls,
                "calls_by_endpoint": dict(counters.calls_by_endpoint),
                "units": counters.units,
                "units_by_endpoint": dict(counters.units_by_endpoint),
                "resources_by_endpoint": {
                    endpoint: list(resources)
                    for endpoint, resources in counters.resources_by_endpoint.items()
                },
                "quota_refusals": counters.quota_refusals,
                "faults_injected": counters.faults_injected,
                "statuses": dict(counters.statuses),
                "in_progress": counters.in_progress,
                "quota": self._quota.usage(),
                "settings": self._public_settings(),
            }
