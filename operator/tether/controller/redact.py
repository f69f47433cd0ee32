"""Keep Secret values out of everything the operator writes or logs.

Credentials read from Secrets are registered here as they are loaded; every
message bound for status, an Event or a log line goes through ``redact``. This
is a second line of defence: messages are built without secret material in
the first place, but error strings from libraries (URLs with userinfo, echoed
headers) are not under our control.
"""

from __future__ import annotations

import logging
import re
import threading

_MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


class Redactor:
    """A set of secret strings to mask in free text. Thread-safe."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | bytes | None) -> None:
        """Register secret values; short or empty ones are ignored."""
        with self._lock:
            for value in values:
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                if not text or len(text) < _MIN_LEN:
                    continue
                self._values.add(text)
                for line in text.splitlines():
                    if len(line.strip()) >= 16:  # lines of a PEM key or a token file
                        self._values.add(line.strip())
            self._pattern = None

    def redact(self, text: str) -> str:
        """Return ``text`` with URL userinfo and every registered value masked."""
        text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{_MASK}@", text)
        pattern = self._compiled()
        return pattern.sub(_MASK, text) if pattern is not None else text

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


REDACTOR = Redactor()
"""The process-wide redactor the operator registers credentials with."""


class RedactingFilter(logging.Filter):
    """A logging filter that masks secret values in the rendered message."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor.redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor.redact(exc_text)
            record.exc_info = None
        return True
