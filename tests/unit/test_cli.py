"""The command line's formatting and exit codes, without a fabric."""

from __future__ import annotations

import io
import json

import pytest

from dxlvtservice.cli import (
    ERROR,
    MALICIOUS,
    NOTHING_MALICIOUS,
    exit_code,
    format_age,
    health_summary,
    main,
    table,
)

RESULT = {
    "indicator": "baddomain.com", "type": "domain", "verdict": "malicious", "positives": 12,
    "total": 94, "reason": "12 positives >= malicious threshold 5", "age": 310,
    "permalink": "https://www.virustotal.com/gui/domain/baddomain.com",
}  # fmt: skip
MISSING = {
    "indicator": "10.0.0.1", "type": "ip", "verdict": "report_missing", "positives": None,
    "total": None, "reason": "not submitted: internal", "age": None, "permalink": None,
}  # fmt: skip


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("verdicts", "code"),
    [(["malicious"], MALICIOUS), (["trusted", "malicious"], MALICIOUS),
     (["no_match", "report_error", "report_missing", "trusted"], NOTHING_MALICIOUS),
     ([], NOTHING_MALICIOUS)],
)  # fmt: skip
def test_exit_code_says_whether_anything_is_malicious(verdicts, code):
    assert exit_code(verdicts) == code


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (7200, "2h"),
     (90000, "1d")],
)  # fmt: skip
def test_age_for_people(seconds, text):
    assert format_age(seconds) == text


def test_table_has_the_columns_and_one_row_per_result():
    lines = table([RESULT, MISSING]).splitlines()
    assert lines[0].split() == ["verdict", "type", "indicator", "detections", "reason", "age",
                                "permalink"]  # fmt: skip
    assert lines[1].split()[:4] == ["malicious", "domain", "baddomain.com", "12/94"]
    assert lines[1].endswith(RESULT["permalink"]) and " 5m " in lines[1]
    assert lines[2].split()[:4] == ["report_missing", "ip", "10.0.0.1", "-"]
    assert "not submitted: internal" in lines[2]
    assert "\x1b[" not in "\n".join(lines)
    # columns line up: the reason starts at the same offset on each row
    assert lines[1].index("12 positives") == lines[2].index("not submitted")


def test_colour_only_when_asked():
    coloured = table([RESULT, MISSING], colour=True).splitlines()
    assert coloured[1].startswith("\x1b[31mmalicious")
    assert coloured[2].startswith("\x1b[33mreport_missing")
    assert "\x1b[" not in coloured[0]


def test_long_indicators_are_shortened_in_the_table():
    url = "http://example.com/" + "a" * 200
    line = table([{**RESULT, "indicator": url}]).splitlines()[1]
    assert url not in line and "http://example.com/aaa" in line


def test_health_summary_names_status_quota_and_cache():
    health = {
        "version": "1.0.0", "instance": "vt-1", "uptime": 3600.2,
        "upstream": {"api_version": 3, "status": "unauthorized", "last_error": "bad key"},
        "quota": {"per_minute": {"limit": 4, "used": 2}, "per_day": {"limit": 500, "used": 37},
                  "per_month": {"limit": None, "used": 412}},
        "cache": {"status": "ok", "entries": 212, "hits": 940, "misses": 61},
        "queue": {"waiting": 3, "in_flight": 1},
        "requests": {"total": 1003, "errors": {"429": 2}},
    }  # fmt: skip
    text = health_summary(health)
    assert "unauthorized" in text and "bad key" in text
    assert "day 37/500" in text and "month 412/unlimited" in text
    assert "212 entries" in text and "3 waiting" in text
    assert "1003 answered, errors 2 x 429" in text


def run(argv, environ=None, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out, stderr=err, environ=environ or {})
    return code, out.getvalue(), err.getvalue()


def test_no_client_config_is_an_error():
    code, out, err = run(["health"])
    assert code == ERROR and "DXLVT_CLIENT_CONFIG" in err and out == ""


def test_missing_client_config_file_is_an_error(tmp_path):
    code, _, err = run(["-c", str(tmp_path), "health"])
    assert code == ERROR and str(tmp_path / "dxlclient.config") in err


def test_classify_without_input_is_an_error_before_connecting(tmp_path):
    (tmp_path / "dxlclient.config").write_text("[Certs]\n")
    code, _, err = run(["classify"], environ={"DXLVT_CLIENT_CONFIG": str(tmp_path)})
    assert code == ERROR and "give indicators" in err


def test_analyze_of_a_file_that_is_not_json_is_an_error(tmp_path):
    (tmp_path / "dxlclient.config").write_text("[Certs]\n")
    report = tmp_path / "report.json"
    report.write_text("not json")
    code, _, err = run(["-c", str(tmp_path), "analyze", "file", str(report)])
    assert code == ERROR and "is not JSON" in err


def test_unreadable_client_config_is_an_error(tmp_path):
    (tmp_path / "dxlclient.config").write_text("[Certs]\n")
    code, _, err = run(["-c", str(tmp_path), "classify", "example.com"])
    assert code == ERROR and "dxlclient.config" in err


def test_bad_usage_is_an_error(capsys):
    assert run(["frobnicate"])[0] == ERROR
    assert run(["report", "hash", "x"])[0] == ERROR
    assert "usage" in capsys.readouterr().err


def test_json_output_is_the_document(tmp_path):
    from dxlvtservice.cli import Output

    out = io.StringIO()
    Output(out, as_json=True).emit({"verdict": "trusted"}, lambda: "table")
    assert json.loads(out.getvalue()) == {"verdict": "trusted"}
    terminal = Terminal()
    Output(terminal, as_json=False).emit({}, lambda: "table")
    assert terminal.getvalue() == "table\n"
