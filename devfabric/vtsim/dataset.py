"""What the simulated VirusTotal knows: named examples and deterministic synthetic reports.

Everything here is a pure function of the indicator in canonical form (see
``indicators``), so that runs are reproducible and reports are built on demand
instead of stored. One :class:`Profile` per indicator decides both its v2 and
its v3 report, which is what keeps the two API versions in agreement. The
dataset is described for people in ``DATASET.md``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from .indicators import hash_kind, is_public_ip, url_sha256

T = TypeVar("T")
WEB = "https://www.virustotal.com"
BASE_TIME = 1704067200  # 2024-01-01 00:00:00 UTC; every analysis happens during 2024
DAY = 86400

FOUND = ("malicious", "low", "clean")
CATEGORIES = (*FOUND, "unknown", "queued")

# Synthetic indicators: category by share in percent, then counts within ranges.
SYNTHETIC_SHARES = {"malicious": 8, "low": 12, "clean": 65, "unknown": 15}
SYNTHETIC_TOTALS = {"file": (60, 70), "url": (85, 93), "domain": (88, 94), "ip": (88, 94)}
SYNTHETIC_MALICIOUS = {"file": (10, 50), "url": (8, 27), "domain": (5, 19), "ip": (5, 19)}
SYNTHETIC_LOW = (1, 4)

# Antivirus engines first (files use the first 60-70), URL scanners after them.
ENGINES = (
    "Bkav", "Lionic", "MicroWorld-eScan", "ClamAV", "CMC", "CAT-QuickHeal", "Skyhigh",
    "McAfee", "Malwarebytes", "Zillya", "Sangfor", "K7AntiVirus", "Alibaba", "K7GW",
    "CrowdStrike", "Arcabit", "BitDefenderTheta", "VirIT", "Symantec", "tehtris",
    "ESET-NOD32", "TrendMicro-HouseCall", "Avast", "Cynet", "Kaspersky", "BitDefender",
    "NANO-Antivirus", "SUPERAntiSpyware", "Tencent", "Emsisoft", "F-Secure", "DrWeb",
    "VIPRE", "TrendMicro", "McAfeeD", "Trapmine", "FireEye", "Sophos", "Ikarus",
    "Jiangmin", "Webroot", "Varist", "Avira", "Antiy-AVL", "Kingsoft", "Gridinsoft",
    "Xcitium", "Microsoft", "ViRobot", "ZoneAlarm", "GData", "Google", "AhnLab-V3",
    "Acronis", "VBA32", "ALYac", "TACHYON", "DeepInstinct", "Zoner", "Rising", "Yandex",
    "SentinelOne", "MaxSecure", "Fortinet", "AVG", "Panda", "Elastic", "Paloalto",
    "Cylance", "Baidu",
    "Abusix", "ADMINUSLabs", "AILabs (MONITORAPP)", "alphaMountain.ai",
    "Artists Against 419", "benkow.cc", "BlockList", "Blueliv", "Certego", "Chong Lua Dao",
    "CINS Army", "CRDF", "Criminal IP", "CyRadar", "desenmascara.me", "DNS8",
    "EmergingThreats", "ESTsecurity", "GreenSnow", "Heimdal Security", "IPsum", "Lumu",
    "MalwarePatrol", "MalwareURL", "Netcraft", "OpenPhish", "PhishFort", "PhishLabs",
    "Phishtank", "PrecisionSec", "Quttera", "SafeToOpen", "Seclookup", "URLhaus",
)  # fmt: skip

_FAMILIES = ("Emotet", "AgentTesla", "Formbook", "Qakbot", "RedLine", "Lokibot", "Zusy")
_LABELS = ("Trojan.Win32.{}", "Gen:Variant.{}", "HEUR:Trojan.Win32.{}", "W32/{}.A!tr",
           "Trojan:Win32/{}", "Malware.{}.Generic")  # fmt: skip
_URL_THREATS = ("malicious", "malware", "phishing")
_FILE_TYPES = (("Win32 EXE", "peexe", "exe"), ("Win32 DLL", "pedll", "dll"),
               ("PDF", "pdf", "pdf"), ("ZIP", "zip", "zip"), ("Android", "apk", "apk"))  # fmt: skip
_NETWORKS = (("US", "NA", "ARIN", "Simulated Hosting LLC"),
             ("DE", "EU", "RIPE NCC", "Beispiel Rechenzentrum GmbH"),
             ("NL", "EU", "RIPE NCC", "Voorbeeld Networks B.V."),
             ("SG", "AS", "APNIC", "Contoh Cloud Pte Ltd"),
             ("BR", "SA", "LACNIC", "Exemplo Telecom Ltda"))  # fmt: skip
_FILE_STATS = ("harmless", "type-unsupported", "suspicious", "confirmed-timeout", "timeout",
               "failure", "malicious", "undetected")  # fmt: skip
_URL_STATS = ("harmless", "malicious", "suspicious", "undetected", "timeout")
# The categories that are an engine's opinion; the others are engines that did not run.
OPINIONS = ("harmless", "undetected", "malicious", "suspicious")


@dataclass(frozen=True)
class Detections:
    """Lengths of the ``detected_*`` lists of a v2 domain or IP report."""

    urls: int = 0
    downloaded_samples: int = 0
    referrer_samples: int = 0
    communicating_samples: int = 0

    def heuristic_count(self, kind: str) -> int:
        """The count the heuristic verdict rule compares with a heuristic threshold."""
        third = self.referrer_samples if kind == "domain" else self.communicating_samples
        return self.urls + self.downloaded_samples + third


@dataclass(frozen=True)
class Profile:
    """What VirusTotal knows about one indicator: the basis of both its reports."""

    category: str
    positives: int = 0
    total: int = 0
    analysed_at: int = BASE_TIME
    detections: Detections = field(default_factory=Detections)
    # Engines among ``total`` that did not run, by v3 category (timeout, type-unsupported, ...).
    not_run: tuple[tuple[str, int], ...] = ()
    # Engines that are among the ``positives`` detecting ones whatever the ranking.
    detected_by: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return self.category in FOUND

    @property
    def opinions(self) -> int:
        """Engines that gave an opinion: v2 ``total`` (v2 lists only the engines that ran)."""
        return self.total - sum(count for _, count in self.not_run)


class FileIdentity(NamedTuple):
    md5: str
    sha1: str
    sha256: str


def _example_file(name: str) -> FileIdentity:
    content = f"vtsim example file: {name}\n".encode()
    return FileIdentity(*(hashlib.new(kind, content).hexdigest() for kind in FileIdentity._fields))


# Named examples beyond the categories, for the verdict rules that read more of a v3 report.
RULE_EXAMPLES = {
    "file": ("distributed", "preferred", "crowdsourced", "gti", "partial", "unsupported"),
    "url": ("ratio",),
    "domain": ("popular", "compromised"),
    "ip": (),
}
FILE_HASHES = {
    name: _example_file(name)._asdict() for name in (*CATEGORIES, *RULE_EXAMPLES["file"])
}
EXAMPLES: dict[str, dict[str, str]] = {
    "file": {name: hashes["sha256"] for name, hashes in FILE_HASHES.items()},
    "url": {
        "malicious": "http://malware.example.com/payload.exe",
        "low": "http://adware.example.net/offer.html",
        "clean": "https://www.example.org/",
        "unknown": "http://unseen.example.com/index.html",
        "queued": "http://pending.example.net/new.html",
        "ratio": "http://ratio.example.net/dropper.js",
    },
    "domain": {
        "malicious": "malware.example.com",
        "low": "adware.example.net",
        "clean": "www.example.org",
        "unknown": "unseen.example.com",
        "queued": "pending.example.net",
        "boundary": "borderline.example.org",
        "popular": "popular.example.net",
        "compromised": "compromised.example.org",
    },
    "ip": {
        "malicious": "192.0.43.66",
        "low": "192.0.43.77",
        "clean": "8.8.8.8",
        "unknown": "192.0.47.59",
        "queued": "192.0.46.8",
        "boundary": "192.0.44.10",
    },
}

# Example name -> (category, positives, total, v2 detected_* list lengths); Detections are
# (urls, downloaded_samples, referrer_samples, communicating_samples).
_EXAMPLE_FACTS: dict[str, dict[str, tuple[str, int, int, Detections]]] = {
    "file": {
        "malicious": ("malicious", 58, 70, Detections()),
        "low": ("low", 3, 70, Detections()),
        "clean": ("clean", 0, 70, Detections()),
        "distributed": ("low", 2, 70, Detections()),
        "preferred": ("low", 2, 70, Detections()),
        "crowdsourced": ("low", 1, 70, Detections()),
        "gti": ("low", 2, 70, Detections()),
        "partial": ("low", 4, 70, Detections()),
        "unsupported": ("clean", 0, 70, Detections()),
    },
    "url": {
        "malicious": ("malicious", 21, 93, Detections()),
        "low": ("low", 2, 93, Detections()),
        "clean": ("clean", 0, 93, Detections()),
        "ratio": ("malicious", 20, 90, Detections()),
    },
    "domain": {
        "malicious": ("malicious", 14, 94, Detections(12, 6, 4, 3)),
        "low": ("low", 2, 94, Detections(2, 1, 0, 0)),
        "clean": ("clean", 0, 94, Detections()),
        "boundary": ("low", 3, 94, Detections(5, 3, 2, 7)),
        "popular": ("low", 3, 94, Detections(2, 1, 0, 0)),
        "compromised": ("malicious", 9, 94, Detections(10, 4, 2, 1)),
    },
    "ip": {
        "malicious": ("malicious", 11, 94, Detections(9, 5, 4, 6)),
        "low": ("low", 2, 94, Detections(1, 1, 0, 1)),
        "clean": ("clean", 0, 94, Detections()),
        "boundary": ("low", 3, 94, Detections(4, 3, 5, 3)),
    },
}


_EXAMPLE_FILES = {
    digest: name for name, hashes in FILE_HASHES.items() for digest in hashes.values()
}
# (kind, key as for profile()) -> example name; files are keyed by sha256, URLs by theirs.
_EXAMPLE_NAMES = {
    (kind, url_sha256(value) if kind == "url" else value): name
    for kind, examples in EXAMPLES.items()
    for name, value in examples.items()
}


def _digest(*parts: str) -> int:
    """A stable 64-bit number for the parts (``hash()`` changes between runs)."""
    data = "\x1f".join(parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big")


def _between(low: int, high: int, *parts: str) -> int:
    return low + _digest(*parts) % (high - low + 1)


def _pick(options: tuple[T, ...], *parts: str) -> T:
    return options[_digest(*parts) % len(options)]


def profile(kind: str, key: str) -> Profile:
    """The profile of an indicator: ``kind`` file/url/domain/ip; ``key`` the file's
    or URL's sha256, or the canonical domain or IP."""
    analysed_at = BASE_TIME + _digest("analysed", kind, key) % (366 * DAY)
    name = _EXAMPLE_NAMES.get((kind, key))
    if name is None:
        return _synthetic_profile(kind, key, analysed_at)
    if name not in _EXAMPLE_FACTS[kind]:
        return Profile(name, analysed_at=analysed_at)  # the unknown and queued examples
    category, positives, total, detections = _EXAMPLE_FACTS[kind][name]
    not_run, detected_by = _ENGINE_FACTS.get((kind, name), ((), ()))
    return Profile(category, positives, total, analysed_at, detections, not_run, detected_by)


# (kind, example) -> (engines that did not run by category, engines that must detect).
_ENGINE_FACTS: dict[tuple[str, str], tuple[tuple[tuple[str, int], ...], tuple[str, ...]]] = {
    ("file", "preferred"): ((), ("CrowdStrike", "Microsoft")),
    ("file", "partial"): (
        (("timeout", 3), ("confirmed-timeout", 2), ("failure", 1), ("type-unsupported", 10)),
        (),
    ),
    ("file", "unsupported"): ((("type-unsupported", 70),), ()),
}

# Ground truth of the named examples, for measuring verdicts (README.md: Verdicts, events and TIE):
# what each example stands for, not what any rule says. Examples not listed are ambiguous.
LABELS: dict[tuple[str, str], str] = {
    **{(kind, "malicious"): "malicious" for kind in ("file", "url", "domain", "ip")},
    **{(kind, "clean"): "benign" for kind in ("file", "url", "domain", "ip")},
    ("file", "preferred"): "malicious",
    ("file", "crowdsourced"): "malicious",
    ("file", "gti"): "malicious",
    ("url", "ratio"): "malicious",
    ("domain", "compromised"): "malicious",
    ("file", "distributed"): "benign",
    ("domain", "popular"): "benign",
}


def example_name(kind: str, key: str) -> str | None:
    """The named example a key (as for :func:`profile`) is, or None for a synthetic one."""
    return _EXAMPLE_NAMES.get((kind, key))


def synthetic_category(kind: str, key: str) -> str:
    """Category of a non-example indicator, by :data:`SYNTHETIC_SHARES`."""
    if kind == "ip" and not is_public_ip(key):
        return "unknown"  # private, loopback, reserved: nothing on the internet to see
    roll = _digest("category", kind, key) % 100
    for category, share in SYNTHETIC_SHARES.items():
        if roll < share:
            return category
        roll -= share
    raise AssertionError("SYNTHETIC_SHARES must add up to 100")


def _synthetic_profile(kind: str, key: str, analysed_at: int) -> Profile:
    category = synthetic_category(kind, key)
    if category not in FOUND:
        return Profile(category, analysed_at=analysed_at)
    total = _between(*SYNTHETIC_TOTALS[kind], "total", kind, key)
    ranges = {"malicious": SYNTHETIC_MALICIOUS[kind], "low": SYNTHETIC_LOW, "clean": (0, 0)}
    positives = _between(*ranges[category], "positives", kind, key)
    detections = _synthetic_detections(kind, key, category) if kind in ("domain", "ip") else None
    return Profile(category, positives, total, analysed_at, detections or Detections())


def _synthetic_detections(kind: str, key: str, category: str) -> Detections:
    """Heuristic count (the heuristic verdict rule): malicious 11-24, low 1-4, clean 0."""
    ranges = {
        "malicious": ((6, 12), (3, 7), (2, 5), (0, 3)),
        "low": ((1, 2), (0, 1), (0, 1), (0, 0)),
        "clean": ((0, 0),) * 4,
    }[category]
    urls, downloaded, counted, other = (
        _between(low, high, "detections", str(index), kind, key)
        for index, (low, high) in enumerate(ranges)
    )
    if kind == "domain":
        return Detections(urls, downloaded, referrer_samples=counted, communicating_samples=other)
    return Detections(urls, downloaded, referrer_samples=other, communicating_samples=counted)


def file_identity(file_hash: str) -> FileIdentity:
    """The file a lower-case md5, sha1 or sha256 names.

    An example file has its real hashes; any other file's missing hashes are
    derived from the one given, so each synthetic file has all three.
    """
    name = _EXAMPLE_FILES.get(file_hash)
    if name is not None:
        return FileIdentity(**FILE_HASHES[name])
    derived = {
        kind: hashlib.new(kind, f"vtsim:{file_hash}".encode()).hexdigest()
        for kind in FileIdentity._fields
    }
    derived[hash_kind(file_hash)] = file_hash
    return FileIdentity(**derived)


# -- pieces shared by the reports ---------------------------------------------------------


def _date(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def _day(timestamp: int) -> str:
    return time.strftime("%Y%m%d", time.gmtime(timestamp))


# Per engine, not per report: each engine runs one version and has one naming scheme.
_VERSIONS = {
    engine: ".".join(
        str(_between(low, high, part, engine))
        for part, low, high in (("major", 1, 9), ("minor", 0, 20), ("build", 100, 9999))
    )
    for engine in ENGINES
}
_LABEL_OF = {engine: _pick(_LABELS, "label", engine) for engine in ENGINES}


class Verdict(NamedTuple):
    """One engine's result, in v3 vocabulary (category, result)."""

    engine: str
    category: str
    result: str | None


def _verdicts(key: str, profile_: Profile, style: str) -> list[Verdict]:
    """Engine results: the ``positives`` engines that rank first for this key detect it."""
    engines = ENGINES[: profile_.total]
    ranked = sorted(
        engines,
        key=lambda engine: (engine not in profile_.detected_by, _digest("rank", key, engine)),
    )
    detecting = set(ranked[: profile_.positives])
    idle = [engine for engine in reversed(ranked) if engine not in detecting]
    did_not_run = {}
    for category, count in profile_.not_run:
        did_not_run |= dict.fromkeys(idle[:count], category)
        idle = idle[count:]
    family = _pick(_FAMILIES, "family", key)
    threat = _pick(_URL_THREATS, "threat", key)
    verdicts = []
    for engine in engines:
        if engine in did_not_run:
            verdict = (did_not_run[engine], None)
        elif style == "file":
            label = _LABEL_OF[engine].format(family)
            verdict = ("malicious", label) if engine in detecting else ("undetected", None)
        elif engine in detecting:
            verdict = ("malicious", threat)
        elif _digest("rated", key, engine) % 4:
            verdict = ("harmless", "clean")
        else:
            verdict = ("undetected", "unrated")
        verdicts.append(Verdict(engine, *verdict))
    return verdicts


def _v3_analysis(verdicts: list[Verdict], style: str, at: int) -> dict:
    """``last_analysis_*`` attributes; the stats add up to the v2 ``total``."""
    counts = Counter(verdict.category for verdict in verdicts)
    results = {}
    for verdict in verdicts:
        result = {
            "method": "blacklist",
            "engine_name": verdict.engine,
            "category": verdict.category,
            "result": verdict.result,
        }
        if style == "file":
            result["engine_version"] = _VERSIONS[verdict.engine]
            result["engine_update"] = _day(at)
        results[verdict.engine] = result
    stats_keys = _FILE_STATS if style == "file" else _URL_STATS
    return {
        "last_analysis_date": at,
        "last_analysis_stats": {key: counts.get(key, 0) for key in stats_keys},
        "last_analysis_results": results,
    }


def _v3_object(kind: str, identifier: str, attributes: dict) -> dict:
    collection = {"file": "files", "url": "urls", "domain": "domains", "ip_address": "ip_addresses"}
    link = f"{WEB}/api/v3/{collection[kind]}/{identifier}"
    return {
        "data": {"type": kind, "id": identifier, "links": {"self": link}, "attributes": attributes}
    }


def _votes(profile_: Profile) -> dict:
    return {"harmless": 0 if profile_.positives else 2, "malicious": min(profile_.positives, 5)}


def _answer(response_code: int, verbose_msg: str, **fields: str) -> dict:
    return {"response_code": response_code, "verbose_msg": verbose_msg, **fields}


def _queued(**fields: str) -> dict:
    return _answer(-2, "Your resource is queued for analysis", **fields)


def _submitted(scan_id: str, permalink: str, at: int) -> dict:
    message = "Scan request successfully queued, come back later for the report"
    return _answer(1, message, scan_id=scan_id, scan_date=_date(at), permalink=permalink)


def v2_invalid_resource(resource: str) -> dict:
    """What v2 file/report and url/report answer for something that is no hash or URL."""
    return _answer(0, "Invalid resource, check what you are submitting", resource=resource)


# -- files ---------------------------------------------------------------------------------


class _FileFacts(NamedTuple):
    size: int
    type_description: str
    type_tag: str
    names: list[str]
    first_seen: int
    times_submitted: int


def _file_facts(identity: FileIdentity, profile_: Profile) -> _FileFacts:
    description, tag, extension = _pick(_FILE_TYPES, "type", identity.sha256)
    return _FileFacts(
        size=_between(1024, 4_000_000, "size", identity.sha256),
        type_description=description,
        type_tag=tag,
        names=[f"{identity.md5[:8]}.{extension}", f"sample.{extension}"],
        first_seen=profile_.analysed_at - _between(0, 400, "first", identity.sha256) * DAY,
        times_submitted=_between(1, 40, "submitted", identity.sha256),
    )


def _file_scan_id(identity: FileIdentity, at: int) -> tuple[str, str]:
    scan_id = f"{identity.sha256}-{at}"
    return scan_id, f"{WEB}/gui/file/{identity.sha256}/detection/f-{scan_id}"


def v2_file_not_found(resource: str) -> dict:
    message = "The requested resource is not among the finished, queued or pending scans"
    return _answer(0, message, resource=resource)


def v2_file_report(identity: FileIdentity, resource: str, *, allinfo: bool = False) -> dict:
    """v2 ``file/report`` answer for one resource (``allinfo`` adds the premium fields)."""
    known = profile("file", identity.sha256)
    scan_id, permalink = _file_scan_id(identity, known.analysed_at)
    if known.category == "queued":
        return _queued(resource=resource, scan_id=scan_id)
    if not known.found:
        return v2_file_not_found(resource)
    scans = {
        verdict.engine: {
            "detected": verdict.category == "malicious",
            "version": _VERSIONS[verdict.engine],
            "result": verdict.result,
            "update": _day(known.analysed_at),
        }
        for verdict in _verdicts(identity.sha256, known, "file")
        if verdict.category in OPINIONS
    }
    report = {
        "response_code": 1,
        "verbose_msg": "Scan finished, scan information embedded in this object",
        "resource": resource,
        "scan_id": scan_id,
        **identity._asdict(),
        "scan_date": _date(known.analysed_at),
        "permalink": permalink,
        "positives": known.positives,
        "total": known.opinions,
        "scans": scans,
    }
    if allinfo:
        facts = _file_facts(identity, known)
        report |= {
            "first_seen": _date(facts.first_seen),
            "last_seen": _date(known.analysed_at),
            "times_submitted": facts.times_submitted,
            "submission_names": facts.names,
            "size": facts.size,
            "type": facts.type_description,
            "tags": [facts.type_tag],
        }
    return report


def v2_file_rescan(identity: FileIdentity, resource: str) -> dict:
    """v2 ``file/rescan``: queued for any file VirusTotal has; the dataset does not change."""
    known = profile("file", identity.sha256)
    if known.category == "unknown":
        return v2_file_not_found(resource)
    scan_id, permalink = _file_scan_id(identity, known.analysed_at)
    return {
        **_submitted(scan_id, permalink, known.analysed_at),
        "resource": resource,
        "sha256": identity.sha256,
    }


def v3_file(identity: FileIdentity) -> dict | None:
    """v3 file object, or ``None`` when VirusTotal has no finished analysis of it."""
    known = profile("file", identity.sha256)
    if not known.found:
        return None
    facts = _file_facts(identity, known)
    verdicts = _verdicts(identity.sha256, known, "file")
    return _v3_object(
        "file",
        identity.sha256,
        {
            **identity._asdict(),
            "size": facts.size,
            "type_description": facts.type_description,
            "type_tag": facts.type_tag,
            "meaningful_name": facts.names[0],
            "names": facts.names,
            "first_submission_date": facts.first_seen,
            "last_submission_date": known.analysed_at,
            "times_submitted": facts.times_submitted,
            "reputation": -known.positives,
            "tags": [facts.type_tag],
            "total_votes": _votes(known),
            "last_modification_date": known.analysed_at,
            **_v3_analysis(verdicts, "file", known.analysed_at),
            **_rule_attributes("file", identity.sha256),
        },
    )


# -- URLs ----------------------------------------------------------------------------------


def _url_scan_id(sha256: str, at: int) -> tuple[str, str]:
    scan_id = f"{sha256}-{at}"
    return scan_id, f"{WEB}/gui/url/{sha256}/detection/u-{scan_id}"


def v2_url_report(url: str, resource: str, *, scan: bool = False) -> dict:
    """v2 ``url/report`` answer for a canonical URL; ``scan`` submits it if unknown."""
    sha256 = url_sha256(url)
    known = profile("url", sha256)
    scan_id, permalink = _url_scan_id(sha256, known.analysed_at)
    if known.category == "queued":
        return _queued(resource=resource, scan_id=scan_id)
    if not known.found:
        return {**v2_url_scan(url), "resource": resource} if scan else v2_url_not_found(resource)
    scans = {
        verdict.engine: {
            "detected": verdict.category == "malicious",
            "result": f"{verdict.result} site",
        }
        for verdict in _verdicts(sha256, known, "url")
    }
    return {
        "response_code": 1,
        "verbose_msg": "Scan finished, scan information embedded in this object",
        "resource": resource,
        "scan_id": scan_id,
        "permalink": permalink,
        "url": url,
        "scan_date": _date(known.analysed_at),
        "filescan_id": None,
        "positives": known.positives,
        "total": known.opinions,
        "scans": scans,
    }


def v2_url_not_found(resource: str) -> dict:
    return _answer(0, "Resource does not exist in the dataset", resource=resource)


def v2_url_scan(url: str) -> dict:
    """v2 ``url/scan`` of a canonical URL: always queued; the dataset does not change."""
    sha256 = url_sha256(url)
    at = profile("url", sha256).analysed_at
    return {**_submitted(*_url_scan_id(sha256, at), at), "url": url}


def v2_invalid_url_scan() -> dict:
    return _answer(-1, "Invalid URL, the scan request was not queued")


def v3_url(sha256: str, url: str | None) -> dict | None:
    """v3 URL object; ``url`` is None when the caller knows the URL by its sha256 alone."""
    known = profile("url", sha256)
    if not known.found:
        return None
    verdicts = _verdicts(sha256, known, "url")
    first_seen = known.analysed_at - _between(0, 200, "first", sha256) * DAY
    attributes = {"url": url, "last_final_url": url} if url else {}
    attributes |= {
        "title": "Simulated page",
        "last_http_response_code": 200,
        "first_submission_date": first_seen,
        "last_submission_date": known.analysed_at,
        "times_submitted": _between(1, 40, "submitted", sha256),
        "reputation": -known.positives,
        "categories": {},
        "tags": [],
        "total_votes": _votes(known),
        "last_modification_date": known.analysed_at,
        **_v3_analysis(verdicts, "url", known.analysed_at),
    }
    return _v3_object("url", sha256, attributes)


# -- domains and IP addresses --------------------------------------------------------------


def _hosted_urls(host: str, kind: str, count: int, detected: bool, at: int) -> list:
    urls = [f"http://{host}/{_digest(kind, host, str(i)) % 10**6:06d}.html" for i in range(count)]
    if detected:
        return [
            {
                "url": url,
                "positives": _between(1, 12, "positives", url),
                "total": 93,
                "scan_date": _date(at - i * DAY),
            }
            for i, url in enumerate(urls)
        ]
    return [[url, url_sha256(url), 0, 93, _date(at - i * DAY)] for i, url in enumerate(urls)]


def _samples(key: str, name: str, count: int, detected: bool, at: int) -> list[dict]:
    samples = []
    for i in range(count):
        sha256 = hashlib.sha256(f"{key}:{name}:{i}".encode()).hexdigest()
        positives = _between(1, 45, "positives", sha256) if detected else 0
        samples.append(
            {
                "date": _date(at - (i + 1) * 2 * DAY),
                "positives": positives,
                "total": 70,
                "sha256": sha256,
            }
        )
    return samples


def _relations(key: str, host: str, known: Profile) -> dict:
    """The v2 lists of related URLs and samples, ``detected_*`` as long as the profile says."""
    at, counts = known.analysed_at, known.detections
    lists = {
        "detected_urls": _hosted_urls(host, "detected", counts.urls, True, at),
        "undetected_urls": _hosted_urls(host, "undetected", 2, False, at),
    }
    for name, count in (
        ("downloaded", counts.downloaded_samples),
        ("referrer", counts.referrer_samples),
        ("communicating", counts.communicating_samples),
    ):
        lists[f"detected_{name}_samples"] = _samples(key, f"detected_{name}", count, True, at)
        lists[f"undetected_{name}_samples"] = _samples(key, f"undetected_{name}", 1, False, at)
    return lists


def _resolved_ip(key: str, index: int) -> str:
    return f"203.0.113.{_between(1, 254, 'resolution', key, str(index))}"


def v2_domain_report(domain: str) -> dict:
    known = profile("domain", domain)
    if known.category == "queued":
        return _queued()
    if not known.found:
        return _answer(0, "Domain not found in dataset")
    at = known.analysed_at
    return {
        "response_code": 1,
        "verbose_msg": "Domain found in dataset",
        "categories": [_domain_category(known)],
        "subdomains": [] if domain.startswith("www.") else [f"www.{domain}"],
        "domain_siblings": [],
        "resolutions": [
            {"last_resolved": _date(at - i * 30 * DAY), "ip_address": _resolved_ip(domain, i)}
            for i in range(2)
        ],
        "whois": f"Domain Name: {domain}\nRegistrar: Simulated Registrar, Inc.",
        "whois_timestamp": at,
        **_relations(domain, domain, known),
    }


def _domain_category(known: Profile) -> str:
    return {"malicious": "malware sites", "low": "potentially unwanted software"}.get(
        known.category, "information technology"
    )


def v2_invalid_domain() -> dict:
    return _answer(-1, "Invalid domain")


def v3_domain(domain: str) -> dict | None:
    known = profile("domain", domain)
    if not known.found:
        return None
    verdicts = _verdicts(domain, known, "url")
    return _v3_object(
        "domain",
        domain,
        {
            "tld": domain.rsplit(".", 1)[-1],
            "categories": {"Forcepoint ThreatSeeker": _domain_category(known)},
            "last_dns_records": [{"type": "A", "value": _resolved_ip(domain, 0), "ttl": 300}],
            "whois": f"Domain Name: {domain}\nRegistrar: Simulated Registrar, Inc.",
            "reputation": -known.positives,
            "tags": [],
            "total_votes": _votes(known),
            "last_modification_date": known.analysed_at,
            **_v3_analysis(verdicts, "url", known.analysed_at),
            **_rule_attributes("domain", domain),
        },
    )


def _network(ip: str) -> dict:
    country, continent, registry, owner = _pick(_NETWORKS, "network", ip)
    prefix = 24 if ipaddress.ip_address(ip).version == 4 else 48
    return {
        "asn": _between(10000, 65000, "asn", ip),
        "as_owner": owner,
        "country": country,
        "continent": continent,
        "regional_internet_registry": registry,
        "network": str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False)),
    }


def v2_ip_report(ip: str) -> dict:
    known = profile("ip", ip)
    if known.category == "queued":
        return _queued()
    if not known.found:
        return _answer(0, "IP address not found in dataset")
    network = _network(ip)
    host = f"[{ip}]" if ":" in ip else ip
    return {
        "response_code": 1,
        "verbose_msg": "IP address found in dataset",
        "asn": network["asn"],
        "as_owner": network["as_owner"],
        "country": network["country"],
        "network": network["network"],
        "resolutions": [
            {
                "last_resolved": _date(known.analysed_at - i * 30 * DAY),
                "hostname": f"host{_digest('host', ip, str(i)) % 1000}.example.net",
            }
            for i in range(2)
        ],
        **_relations(ip, host, known),
    }


def v2_invalid_ip() -> dict:
    return _answer(-1, "Invalid IP address")


def v3_ip(ip: str) -> dict | None:
    known = profile("ip", ip)
    if not known.found:
        return None
    verdicts = _verdicts(ip, known, "url")
    return _v3_object(
        "ip_address",
        ip,
        {
            **_network(ip),
            "reputation": -known.positives,
            "tags": [],
            "total_votes": _votes(known),
            "last_modification_date": known.analysed_at,
            **_v3_analysis(verdicts, "url", known.analysed_at),
        },
    )


# -- attributes the richer verdict rules read (shapes as VirusTotal documents them) ----------


def _start_of_today() -> int:
    """Midnight UTC: popularity lists are refreshed daily, so their ranks are dated recently."""
    return int(time.time()) // DAY * DAY


def _popularity_ranks(fresh: dict[str, int], stale: dict[str, int]) -> dict:
    """``popularity_ranks`` of the domain object: ``{list name: {"rank", "timestamp"}}``."""
    today = _start_of_today()
    ranks = {name: {"rank": rank, "timestamp": today - DAY} for name, rank in fresh.items()}
    # A list VirusTotal stopped refreshing (Alexa closed in 2022): its last rank is old.
    return ranks | {name: {"rank": rank, "timestamp": 1546300800} for name, rank in stale.items()}


def _distributed() -> dict:
    filename = "vtsimupdate.exe"
    return {
        "known_distributors": {
            "filenames": [filename],
            "products": ["Simulated Windows Update Agent"],
            "distributors": ["Microsoft"],
            "links": ["https://www.microsoft.com/"],
            "data_sources": ["National Software Reference Library (NSRL)"],
        },
        "trusted_verdict": {
            "filename": filename,
            "link": f"https://download.microsoft.com/vtsim/{filename}",
            "organization": "Microsoft",
            "verdict": "goodware",
        },
    }


def _crowdsourced() -> dict:
    rules = [
        ("SUSP_Packed_Loader", "Detects a packed loader stub", "Simulated Threat Research"),
        ("MAL_Emotet_Strings", "Detects strings of an Emotet loader", "Simulated CERT"),
    ]
    return {
        "crowdsourced_yara_results": [
            {
                "author": author,
                "description": description,
                "match_in_subfile": False,
                "rule_name": rule_name,
                "ruleset_id": f"{_digest('ruleset', rule_name) % 16**10:010x}",
                "ruleset_name": "vtsim_rules",
                "source": "https://github.com/vtsim/yara-rules",
            }
            for rule_name, description, author in rules
        ],
        "sigma_analysis_stats": {"critical": 1, "high": 2, "medium": 0, "low": 3},
        "crowdsourced_ids_stats": {"high": 2, "info": 4, "low": 1, "medium": 0},
    }


def _gti_assessed() -> dict:
    return {
        "gti_assessment": {
            "verdict": {"value": "VERDICT_MALICIOUS"},
            "severity": {"value": "SEVERITY_HIGH"},
            "threat_score": {"value": 85},
            "description": "This indicator is malicious (high severity).",
        }
    }


_RULE_ATTRIBUTES: dict[tuple[str, str], Callable[[], dict]] = {
    ("file", "distributed"): _distributed,
    ("file", "crowdsourced"): _crowdsourced,
    ("file", "gti"): _gti_assessed,
    ("domain", "popular"): lambda: {
        "popularity_ranks": _popularity_ranks(
            {"Cisco Umbrella": 5, "Tranco": 9, "Majestic": 12}, {"Alexa": 1}
        )
    },
    ("domain", "compromised"): lambda: {
        "popularity_ranks": _popularity_ranks({"Cisco Umbrella": 850, "Tranco": 620}, {})
    },
}


def _rule_attributes(kind: str, key: str) -> dict:
    """The v3 attributes of a named example that exercises a richer verdict rule, else none."""
    build = _RULE_ATTRIBUTES.get((kind, example_name(kind, key) or ""))
    return build() if build else {}
