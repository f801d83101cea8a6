"""``dxlvtservice.config``: parsed and validated in full before anything connects.

Every configuration key (docs/configuration.md) is read here, so that a wrong value is a start-up
error naming its section and key rather than a surprise hours later.
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .core.indicators import IndicatorType, normalize
from .core.verdicts import Rules, rule_problem
from .errors import ServiceError

CONFIG_FILE_NAME = "dxlvtservice.config"
VERDICTS = ("malicious", "trusted", "no_match", "report_missing", "report_error")
_TRUE = {"yes", "true", "on", "1"}
_FALSE = {"no", "false", "off", "0"}
# Sections owned by dxlbootstrap's Application; validated here, applied by it.
_POOL_SECTIONS = ("IncomingMessagePool", "MessageCallbackPool")
# TIE trust levels a verdict may become: known / most likely / might be malicious, and
# might be / most likely trusted (never known trusted: that is for GTI or an administrator).
MALICIOUS_TRUST_LEVELS = (1, 15, 30)
TRUSTED_TRUST_LEVELS = (70, 85)
LOG_FORMATS = ("text", "json")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_KEY_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_STORE_SCHEMES = ("redis", "rediss")


class ConfigError(ValueError):
    """A configuration problem, phrased for the operator."""


def default_cache_directory() -> Path:
    """The per-user cache folder (XDG on Linux)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(root) / "dxlvtservice"


@dataclass(frozen=True)
class Fleet:
    """``[Fleet]``: the store the hosts of a fleet share (docs/fleet.md)."""

    store_url: str
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_prefix: str = "dxlvtservice"
    instances: int = 1


@dataclass(frozen=True)
class Settings:
    """Everything the service needs from its configuration directory."""

    api_key: str = field(repr=False)
    instance_name: str = field(default_factory=socket.gethostname)
    base_url: str = "https://www.virustotal.com"
    api_version: int = 3
    request_timeout: float = 30.0
    allow_submissions: bool = True
    rate_limit_requests: bool = True
    rate_limit_ms: int = 15000
    requests_per_minute: int | None = 4
    requests_per_day: int | None = 500
    requests_per_month: int | None = None
    discover_quota: bool = True
    batch_size: int = 4
    max_queue_wait: float = 60.0
    cache_enabled: bool = True
    cache_max_entries: int = 500
    cache_ttl: float = 3600.0
    negative_cache_ttl: float = 600.0
    cache_directory: Path = field(default_factory=default_cache_directory)
    rules: Rules = field(default_factory=lambda: Rules(5, 1, None, None))
    internal_domains: tuple[str, ...] = ()
    publish_verdicts: frozenset[str] = frozenset({"malicious"})
    max_payload_bytes: int = 1048576
    max_indicators: int = 100
    shutdown_grace: float = 10.0
    event_interval: float = 3600.0
    tie_export: bool = False
    tie_malicious_level: int = 1
    tie_trusted_level: int | None = 70
    tie_enrich_first_instance: bool = False
    background_share: float = 0.25
    log_format: str = "text"
    metrics_port: int | None = None
    metrics_bind_address: str = "127.0.0.1"
    fleet: Fleet | None = None
    min_refresh: float = 60.0
    warnings: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    """Sections and keys the service does not know (typos): errors for --check-config,
    warnings at start-up."""


def _closest(name: str, known: Mapping[str, object]) -> str:
    """`` (did you mean X?)`` for the known name closest to ``name``, if any is close."""
    match = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=1)
    if not match:
        return ""
    spelled = {k.lower(): (v if isinstance(v, str) else k) for k, v in known.items()}
    return f" (did you mean {spelled[match[0]]}?)"


class _Reader:
    """Typed access to one ConfigParser that names section and key in every error."""

    def __init__(self, parser: configparser.ConfigParser) -> None:
        self._parser = parser
        self._known: dict[str, dict[str, str]] = {}  # section -> lower-case key -> key

    def raw(self, section: str, key: str) -> str | None:
        self._known.setdefault(section, {})[key.lower()] = key
        if not self._parser.has_option(section, key):
            return None
        value = self._parser.get(section, key, raw=True).strip()
        return value or None

    def unknown(self) -> list[str]:
        """Every section and key in the file that no reading asked for, with the
        closest known name (every key is read, set or not, so what was never
        asked for is a typo)."""
        problems = []
        for section in self._parser.sections():
            keys = self._known.get(section)
            if keys is None:
                problems.append(f"[{section}]: unknown section{_closest(section, self._known)}")
                continue
            for option in self._parser.options(section):
                if option not in keys:
                    spelled = {name.lower(): name for name in keys.values()}
                    hint = _closest(option, spelled)
                    problems.append(f"[{section}] {option}: unknown key{hint}")
        return problems

    def fail(self, section: str, key: str, problem: str) -> ConfigError:
        return ConfigError(f"[{section}] {key}: {problem}")

    def text(self, section: str, key: str, default: str) -> str:
        return self.raw(section, key) or default

    def flag(self, section: str, key: str, default: bool) -> bool:
        value = self.raw(section, key)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self.fail(section, key, f"expected yes or no, got {value!r}")

    def number(
        self,
        section: str,
        key: str,
        default: int | None,
        *,
        minimum: int = 0,
        maximum: int | None = None,
        off_words: tuple[str, ...] = (),
    ) -> int | None:
        """An integer in range; one of ``off_words`` (e.g. ``off``) gives ``None``."""
        value = self.raw(section, key)
        if value is None:
            return default
        if value.lower() in off_words:
            return None
        try:
            number = int(value)
        except ValueError:
            expected = "a whole number" + (f" or {' / '.join(off_words)}" if off_words else "")
            raise self.fail(section, key, f"expected {expected}, got {value!r}") from None
        if number < minimum or (maximum is not None and number > maximum):
            bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise self.fail(section, key, f"must be {bound}, got {number}")
        return number

    def items(self, section: str, key: str) -> tuple[str, ...]:
        value = self.raw(section, key) or ""
        return tuple(item.strip() for item in value.split(",") if item.strip())


def _api_key(reader: _Reader, config_dir: Path, environ: dict[str, str]) -> str:
    """``apiKey``, else ``VT_API_KEY``, else the file named by ``apiKeyFile``."""
    key = reader.raw("General", "apiKey") or environ.get("VT_API_KEY", "").strip()
    key_file = reader.raw("General", "apiKeyFile")
    if not key and key_file:
        path = Path(key_file)
        path = path if path.is_absolute() else config_dir / path
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            problem = f"cannot read {path}: {error.strerror}"
            raise reader.fail("General", "apiKeyFile", problem) from None
    if not key:
        raise reader.fail(
            "General", "apiKey", "no VirusTotal API key (set apiKey, VT_API_KEY or apiKeyFile)"
        )
    if any(ch.isspace() for ch in key):
        raise reader.fail("General", "apiKey", "the API key contains white space")
    return key


def _config_path(config_dir: Path, value: str) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else config_dir / path


def _store_password(reader: _Reader, config_dir: Path, environ: dict[str, str]) -> str | None:
    """``storePasswordFile``, else ``DXLVT_STORE_PASSWORD``; never in an error message."""
    password_file = reader.raw("Fleet", "storePasswordFile")
    if password_file:
        path = _config_path(config_dir, password_file)
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError as error:
            problem = f"cannot read {path}: {error.strerror}"
            raise reader.fail("Fleet", "storePasswordFile", problem) from None
    return environ.get("DXLVT_STORE_PASSWORD", "").strip() or None


def _fleet(reader: _Reader, config_dir: Path, environ: dict[str, str]) -> Fleet | None:
    """``[Fleet]``, or None when no ``storeUrl`` is set (one host: the local store)."""
    url = reader.raw("Fleet", "storeUrl")
    instances = reader.number("Fleet", "instances", 1, minimum=1, maximum=1000)
    prefix = reader.text("Fleet", "keyPrefix", Fleet.key_prefix)
    if not _KEY_PREFIX.fullmatch(prefix):
        raise reader.fail(
            "Fleet", "keyPrefix", "expected letters, digits and . _ : - (at most 64)"
        )
    files = {}
    for key in ("storeCaFile", "storeCertFile", "storeKeyFile"):
        value = reader.raw("Fleet", key)
        if value is None:
            continue
        path = _config_path(config_dir, value)
        if not path.is_file():
            raise reader.fail("Fleet", key, f"no such file: {path}")
        files[key] = path
    if url is None:
        if files:
            raise reader.fail("Fleet", next(iter(files)), "needs a rediss:// storeUrl")
        return None
    parts = urlsplit(url)
    if parts.scheme not in _STORE_SCHEMES or not parts.hostname:
        raise reader.fail("Fleet", "storeUrl", "expected redis://host:port/db or rediss://...")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        raise reader.fail("Fleet", "storeUrl", "the port is not a number") from None
    if parts.password is not None:
        raise reader.fail(
            "Fleet", "storeUrl",
            "holds a password: use storePasswordFile or DXLVT_STORE_PASSWORD instead",
        )  # fmt: skip
    if parts.path.strip("/") and not parts.path.strip("/").isdigit():
        raise reader.fail("Fleet", "storeUrl", "the database after the port must be a number")
    if files and parts.scheme != "rediss":
        raise reader.fail("Fleet", next(iter(files)), "needs a rediss:// storeUrl")
    if ("storeCertFile" in files) != ("storeKeyFile" in files):
        raise reader.fail("Fleet", "storeCertFile", "storeCertFile and storeKeyFile go together")
    assert instances is not None
    return Fleet(
        store_url=url,
        password=_store_password(reader, config_dir, environ),
        ca_file=files.get("storeCaFile"),
        cert_file=files.get("storeCertFile"),
        key_file=files.get("storeKeyFile"),
        key_prefix=prefix,
        instances=instances,
    )


def _base_url(reader: _Reader) -> str:
    url = reader.text("VirusTotal", "baseUrl", Settings.base_url).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise reader.fail("VirusTotal", "baseUrl", f"expected an http(s) URL, got {url!r}")
    return url


# The v3 rules (docs/verdicts.md): configuration key -> rule name; absent means the default (off).
_V3_RULE_KEYS = {
    "countSuspicious": "count_suspicious",
    "maliciousRatio": "malicious_ratio",
    "preferredEngines": "preferred_engines",
    "preferredMalicious": "preferred_malicious",
    "popularRank": "popular_rank",
    "popularMaxAgeDays": "popular_max_age_days",
    "trustKnownDistributor": "trust_known_distributor",
    "suspiciousPositives": "suspicious_positives",
    "yaraMin": "yara_min",
    "sigmaMin": "sigma_min",
    "idsMin": "ids_min",
    "gtiVerdict": "gti_verdict",
}
_FLAGS = {"count_suspicious", "trust_known_distributor", "gti_verdict"}


def _v3_rule(reader: _Reader, key: str, name: str) -> Any:
    """One v3 rule's value from its key, typed as in a request's ``rules``; checked alike."""
    section = "Classification"
    raw = reader.raw(section, key)
    if raw is None:
        return getattr(Rules, name)
    if name in _FLAGS:
        return reader.flag(section, key, False)
    if name == "preferred_engines":
        value: Any = list(reader.items(section, key))
    elif name == "malicious_ratio":
        if raw.lower() == "off":
            return None
        try:
            value = float(raw)
        except ValueError:
            raise reader.fail(section, key, f"expected a number, got {raw!r}") from None
    else:
        value = reader.number(section, key, None, minimum=1, off_words=("off",))
    problem = rule_problem(name, value)
    if problem:
        raise reader.fail(section, key, problem.replace(name, key, 1))
    return value


def _rules(reader: _Reader) -> Rules:
    section = "Classification"
    malicious = reader.number(section, "maliciousPositives", 5, minimum=1)
    trusted = reader.number(section, "trustedPositives", 1, minimum=1, off_words=("never",))
    domain = reader.number(section, "domainDetectionsThreshold", None, off_words=("off",))
    ip = reader.number(section, "ipDetectionsThreshold", None, off_words=("off",))
    assert malicious is not None
    seed = Rules(malicious, trusted, domain, ip)
    return seed.merged({name: _v3_rule(reader, key, name) for key, name in _V3_RULE_KEYS.items()})


def _publish_verdicts(reader: _Reader) -> frozenset[str]:
    if reader.raw("Classification", "publishVerdicts") is None:
        return Settings.publish_verdicts
    chosen = reader.items("Classification", "publishVerdicts")
    unknown = [name for name in chosen if name not in VERDICTS]
    if unknown:
        raise reader.fail(
            "Classification",
            "publishVerdicts",
            f"unknown verdict {unknown[0]!r} (choose from {', '.join(VERDICTS)})",
        )
    return frozenset(chosen)


def _trust_level(
    reader: _Reader, key: str, default: int, allowed: tuple[int, ...], *, can_be_off: bool = False
) -> int | None:
    """A TIE trust level from the few that mean a verdict (docs/tie.md), or ``off`` (None)."""
    off = ("off",) if can_be_off else ()
    level = reader.number("TIE", key, default, off_words=off)
    if level is not None and level not in allowed:
        choices = ", ".join(map(str, allowed)) + (" or off" if off else "")
        raise reader.fail("TIE", key, f"must be one of {choices}, got {level}")
    return level


def _background_share(reader: _Reader) -> float:
    """The share of each quota window background lookups may use: above 0, at most 1."""
    raw = reader.raw("TIE", "backgroundShare")
    if raw is None:
        return Settings.background_share
    try:
        share = float(raw)
    except ValueError:
        raise reader.fail("TIE", "backgroundShare", f"expected a number, got {raw!r}") from None
    if not 0 < share <= 1:
        raise reader.fail("TIE", "backgroundShare", f"must be above 0 and at most 1, got {raw}")
    return share


def _internal_domains(reader: _Reader) -> tuple[str, ...]:
    domains = []
    for suffix in reader.items("Classification", "internalDomains"):
        name = suffix.strip(".").lower()
        try:
            domains.append(normalize(IndicatorType.DOMAIN, name))
        except ServiceError:
            if not _LABEL.fullmatch(name):  # a bare suffix such as "lan" is fine too
                raise reader.fail(
                    "Classification", "internalDomains", f"{suffix!r} is not a domain suffix"
                ) from None
            domains.append(name)
    return tuple(domains)


def _log_format(reader: _Reader) -> str:
    value = reader.text("General", "logFormat", Settings.log_format).lower()
    if value not in LOG_FORMATS:
        raise reader.fail("General", "logFormat", f"expected text or json, got {value!r}")
    return value


def _bind_address(reader: _Reader) -> str:
    value = reader.text("Metrics", "bindAddress", Settings.metrics_bind_address)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        problem = f"expected an IP address such as 127.0.0.1 or ::1, got {value!r}"
        raise reader.fail("Metrics", "bindAddress", problem) from None


def _check_pools(reader: _Reader) -> None:
    for section in _POOL_SECTIONS:
        reader.number(section, "queueSize", None, minimum=1)
        reader.number(section, "threadCount", None, minimum=1, maximum=1000)


def parse(
    parser: configparser.ConfigParser,
    config_dir: Path,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Validate every key and return the settings, or raise ``ConfigError``."""
    reader = _Reader(parser)
    environ = dict(os.environ) if environ is None else environ
    number = reader.number
    _check_pools(reader)
    rules = _rules(reader)
    warnings = []
    if rules.trusted_positives is not None and rules.trusted_positives > rules.malicious_positives:
        warnings.append(
            "[Classification] trustedPositives is above maliciousPositives: "
            "results between them are classified malicious, never trusted"
        )
    per_minute = number("RateLimit", "requestsPerMinute", 4, minimum=1, off_words=("unlimited",))
    per_day = number("RateLimit", "requestsPerDay", 500, minimum=1, off_words=("unlimited",))
    per_month = number(
        "RateLimit", "requestsPerMonth", None, minimum=1, off_words=("unlimited",)
    )
    api_version = number("VirusTotal", "apiVersion", 3, minimum=2, maximum=3)
    cache_dir = reader.raw("Cache", "cacheDirectory")
    settings = Settings(
        api_key=_api_key(reader, config_dir, environ),
        instance_name=reader.text("General", "instanceName", socket.gethostname()),
        base_url=_base_url(reader),
        api_version=api_version,
        request_timeout=number("VirusTotal", "requestTimeoutSec", 30, minimum=1, maximum=600),
        allow_submissions=reader.flag("VirusTotal", "allowSubmissions", True),
        rate_limit_requests=reader.flag("RateLimit", "rateLimitRequests", True),
        rate_limit_ms=number("RateLimit", "rateLimitMs", 15000, maximum=86_400_000),
        requests_per_minute=per_minute,
        requests_per_day=per_day,
        requests_per_month=per_month,
        discover_quota=reader.flag("RateLimit", "discoverQuota", True),
        batch_size=number("RateLimit", "batchSize", 4, minimum=1, maximum=25),
        max_queue_wait=number("RateLimit", "maxQueueWaitSec", 60, minimum=1, maximum=3600),
        cache_enabled=reader.flag("Cache", "cacheApiResponses", True),
        cache_max_entries=number("Cache", "responseCacheMaxSize", 500, minimum=1),
        cache_ttl=number("Cache", "responseCacheTimeoutSec", 3600, minimum=1),
        negative_cache_ttl=number("Cache", "negativeCacheTimeoutSec", 600),
        cache_directory=(
            Path(os.path.expanduser(cache_dir)) if cache_dir else default_cache_directory()
        ),
        rules=rules,
        internal_domains=_internal_domains(reader),
        publish_verdicts=_publish_verdicts(reader),
        max_payload_bytes=number("Limits", "maxPayloadBytes", 1048576, minimum=64),
        max_indicators=number("Limits", "maxIndicatorsPerRequest", 100, minimum=1),
        shutdown_grace=number("Limits", "shutdownGraceSec", 10, maximum=3600),
        event_interval=number("Events", "eventIntervalSec", 3600, maximum=366 * 86400),
        tie_export=reader.flag("TIE", "exportVerdicts", False),
        tie_malicious_level=_trust_level(reader, "maliciousTrustLevel", 1, MALICIOUS_TRUST_LEVELS),
        tie_trusted_level=_trust_level(
            reader, "trustedTrustLevel", 70, TRUSTED_TRUST_LEVELS, can_be_off=True
        ),
        tie_enrich_first_instance=reader.flag("TIE", "enrichFirstInstance", False),
        background_share=_background_share(reader),
        log_format=_log_format(reader),
        metrics_port=number("Metrics", "port", None, minimum=1, maximum=65535, off_words=("off",)),
        metrics_bind_address=_bind_address(reader),
        fleet=_fleet(reader, config_dir, environ),
        min_refresh=number("Limits", "minRefreshSec", 60),
        warnings=tuple(warnings),
    )
    return dataclasses.replace(settings, unknown=tuple(reader.unknown()))


def load(config_dir: Path, environ: dict[str, str] | None = None) -> Settings:
    """Read ``CONFIG_DIR/dxlvtservice.config`` and validate it."""
    path = Path(config_dir) / CONFIG_FILE_NAME
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except configparser.Error as error:
        raise ConfigError(f"{path} is not a valid configuration file: {error}") from None
    return parse(parser, Path(config_dir), environ)
