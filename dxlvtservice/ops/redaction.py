"""Keep the API key out of every log line, whoever writes it (urllib3 included)."""

from __future__ import annotations

import logging

MASK = "--api-key--"


class RedactingFilter(logging.Filter):
    """A handler filter that replaces a secret in the message and the traceback."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = record.exc_text.replace(self._secret, MASK)
        record.msg, record.args = message.replace(self._secret, MASK), None
        return True


def protect_logs(secret: str) -> None:
    """Install the filter on every root handler; quiet urllib3's URL-quoting debug lines."""
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
    redactor = RedactingFilter(secret)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
