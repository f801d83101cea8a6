"""The README's verdict-quality table is what ``bench.verdict_quality`` computes, and the v3
rules' configuration keys are documented where operators look."""

from pathlib import Path

from bench.verdict_quality import CONFIGURATIONS, score, table
from dxlvtservice.config import _V3_RULE_KEYS

ROOT = Path(__file__).resolve().parents[2]


def test_readme_table_is_the_computed_one():
    assert table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_v3_rules_add_right_verdicts_and_no_false_ones():
    seed, enabled, popularity_first = (score(*c) for c in CONFIGURATIONS.values())
    assert enabled["right"] > seed["right"]
    assert enabled["false malicious"] == enabled["false trusted"] == 0
    assert popularity_first["false trusted"] == 1  # the compromised popular domain


def test_every_classification_key_is_documented():
    sample = (ROOT / "config" / "dxlvtservice.config").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key in _V3_RULE_KEYS:
        assert f";{key} =" in sample, key
        assert f"`{key}`" in readme, key
