"""Log lines: JSON objects with the fields a SIEM needs, the key masked, requests at DEBUG."""

from __future__ import annotations

import configparser
import io
import json
import logging
from pathlib import Path

import pytest

from dxlvtservice.config import ConfigError, parse
from dxlvtservice.ops.logs import REQUESTS, json_formatter, log_request
from dxlvtservice.ops.redaction import MASK, RedactingFilter

SECRET = "5ec7" * 16


@pytest.fixture
def lines():
    """Records of the request logger and a test logger, as the service's handler writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    handler.addFilter(RedactingFilter(SECRET))
    loggers = [REQUESTS, logging.getLogger("dxlvtservice.test")]
    saved = [(each.level, each.propagate) for each in loggers]
    for each in loggers:
        each.addHandler(handler)
        each.setLevel(logging.DEBUG)
        each.propagate = False

    def read() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield read
    for each, (level, propagate) in zip(loggers, saved, strict=True):
        each.removeHandler(handler)
        each.setLevel(level)
        each.propagate = propagate


def test_a_line_is_one_object_with_time_level_logger_message(lines):
    logging.getLogger("dxlvtservice.test").warning("cache degraded: %s", "read-only")
    [line] = lines()
    assert line["level"] == "WARNING" and line["logger"] == "dxlvtservice.test"
    assert line["message"] == "cache degraded: read-only"
    assert line["time"].endswith("+00:00") and line["time"][:4].isdigit()


def test_the_key_is_masked_in_message_and_traceback(lines):
    log = logging.getLogger("dxlvtservice.test")
    try:
        raise RuntimeError(f"GET /vtapi/v2/file/report?apikey={SECRET}")
    except RuntimeError:
        log.exception("upstream failed for apikey=%s", SECRET)
    text = json.dumps(lines())
    assert SECRET not in text
    [line] = lines()
    assert MASK in line["message"] and MASK in line["exc_info"]


def test_request_line_carries_topic_id_outcome_duration(lines):
    log_request("/opendxl-virustotal/service/vtapi/classify", "{m-1}", "{c-1}", 200, 0.0123)
    log_request("/opendxl-virustotal/service/vtapi/file/report", "{m-2}", "{c-1}", 429, 0.5)
    ok, refused = lines()
    assert ok["topic"] == "/opendxl-virustotal/service/vtapi/classify"
    assert (ok["message_id"], ok["outcome"], ok["code"], ok["duration_ms"]) == (
        "{m-1}", "ok", 200, 12.3)  # fmt: skip
    assert ok["level"] == "DEBUG" and ok["logger"] == "dxlvtservice.requests"
    assert (refused["outcome"], refused["code"]) == ("error", 429)


def test_request_lines_are_off_at_info(lines):
    REQUESTS.setLevel(logging.INFO)
    log_request("/opendxl-virustotal/service/vtapi/health", "{m-3}", "{c-1}", 200, 0.001)
    assert lines() == []


def settings_from(text: str):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string("[General]\napiKey = " + "k" * 64 + "\n" + text)
    return parse(parser, Path("."), {})


def test_log_format_text_by_default_json_on_request():
    assert settings_from("").log_format == "text"
    assert settings_from("logFormat = JSON\n").log_format == "json"
    with pytest.raises(ConfigError, match=r"\[General\] logFormat"):
        settings_from("logFormat = xml\n")
