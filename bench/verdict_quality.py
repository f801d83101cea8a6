"""``python -m bench.verdict_quality``: verdicts on the simulator's labelled examples.

Judges the v3 report of every labelled example (devfabric/vtsim/DATASET.md, "Labels")
with the seed's rules alone and with the v3 rules enabled (docs/verdicts.md), and counts
what went right and wrong. Pure: the reports are built by the dataset, no simulator runs.
The table in README.md ("Verdict quality") is this module's output.
"""

from __future__ import annotations

import time
from collections import Counter

from devfabric.vtsim import dataset
from devfabric.vtsim.indicators import url_sha256
from dxlvtservice.core.reports import Report
from dxlvtservice.core.verdicts import Assessment, Rules, Verdict, assess, popular

SEED = Rules()
ENABLED = Rules(
    malicious_ratio=0.15,
    preferred_engines=("CrowdStrike", "Microsoft"),
    preferred_malicious=2,
    popular_rank=1000,
    trust_known_distributor=True,
    gti_verdict=True,
    yara_min=1,
    sigma_min=1,
    ids_min=1,
)


def popularity_first(kind: str, report: dict | None, rules: Rules) -> Assessment:
    """The v3 rules with popularity weighed before detections, as XSOAR's integration does."""
    read = Report.from_dict(kind, report)
    finding = read.found and kind == "domain" and popular(read, rules, 0, time.time())
    return (
        Assessment(Verdict.TRUSTED, reason=finding.reason)
        if finding
        else assess(kind, report, rules)
    )


CONFIGURATIONS = {
    "seed rules (1-7)": (assess, SEED),
    "with the v3 rules": (assess, ENABLED),
    "v3 rules, popularity first (XSOAR's order)": (popularity_first, ENABLED),
}


def v3_report(kind: str, value: str) -> dict | None:
    """The v3 object the simulator answers for a named example."""
    if kind == "file":
        return dataset.v3_file(dataset.file_identity(value))
    if kind == "url":
        return dataset.v3_url(url_sha256(value), value)
    if kind == "domain":
        return dataset.v3_domain(value)
    return dataset.v3_ip(value)


def score(verdict_of, rules: Rules) -> Counter:
    """Outcomes over the labelled examples: right, missed, false malicious, false trusted."""
    counts: Counter = Counter()
    for (kind, name), label in dataset.LABELS.items():
        result = verdict_of(kind, v3_report(kind, dataset.EXAMPLES[kind][name]), rules)
        if result.verdict == "malicious":
            counts["right" if label == "malicious" else "false malicious"] += 1
        elif result.verdict == "trusted":
            counts["right" if label == "benign" else "false trusted"] += 1
        else:
            counts["missed"] += 1
        counts["suspicious"] += result.suspicious
    return counts


def table() -> str:
    """The Markdown table of README.md's "Verdict quality"."""
    labels = Counter(dataset.LABELS.values())
    head = (
        f"| rules | right (of {sum(labels.values())}) | no verdict (`no_match`) "
        "| false `malicious` | false `trusted` | flagged `suspicious` |"
    )
    lines = [head, "|---|---|---|---|---|---|"]
    for title, (verdict_of, rules) in CONFIGURATIONS.items():
        c = score(verdict_of, rules)
        lines.append(
            f"| {title} | {c['right']} | {c['missed']} | {c['false malicious']} "
            f"| {c['false trusted']} | {c['suspicious']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
