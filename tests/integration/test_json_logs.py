"""logFormat = json: every line the running service writes is one JSON object, never the key."""

from __future__ import annotations

import json

from devfabric.vtsim.dataset import EXAMPLES

from .conftest import FAST, answer, request

# The root at INFO as shipped, plus the per-request logger at DEBUG (docs/operations.md).
LOGGING_CONFIG = """\
[loggers]
keys=root,requests

[handlers]
keys=console

[formatters]
keys=plain

[logger_root]
level=INFO
handlers=console

[logger_requests]
level=DEBUG
handlers=
qualname=dxlvtservice.requests

[handler_console]
class=StreamHandler
level=DEBUG
formatter=plain
args=(sys.stderr,)

[formatter_plain]
format=%(asctime)s %(levelname)s %(name)s: %(message)s
"""


def test_json_lines_with_request_fields_and_no_key(fabric, dxl, start_service, simulator,
                                                   tmp_path):  # fmt: skip
    directory = tmp_path / "json-logs"
    (directory / "config").mkdir(parents=True)
    (directory / "config" / "logging.config").write_text(LOGGING_CONFIG)
    service = start_service({**FAST, "General": {"logFormat": "json"}}, directory=directory)
    reply = answer(request(dxl, "/classify", {"hash": EXAMPLES["file"]["malicious"]}))
    assert reply["verdict"] == "malicious"
    refused = request(dxl, "/domain/report", {"domain": "not a domain"})
    assert refused.error_code == 400
    assert service.stop() == 0  # every line is written once the process has exited

    text = service.log_text()
    assert fabric.api_key not in text
    lines = [json.loads(line) for line in text.splitlines()]  # fails on any line not JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["message"].startswith("Registered") for line in lines)
    answered = {line["topic"].rsplit("vtapi", 1)[1]: line for line in lines if "topic" in line}
    classify, bad = answered["/classify"], answered["/domain/report"]
    assert (classify["outcome"], classify["code"], bad["outcome"], bad["code"]) == (
        "ok", 200, "error", 400)  # fmt: skip
    assert classify["message_id"] and classify["message_id"] != bad["message_id"]
    assert classify["duration_ms"] >= 0 and classify["logger"] == "dxlvtservice.requests"
