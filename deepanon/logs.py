"""deepanon's log lines on stderr, set up by the commands when they run (never at import: a program that imports
deepanon keeps its own logging; without this, deepanon's loggers only pass warnings to Python's last resort)."""

from __future__ import annotations

import logging
import sys


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners swap it); warnings and errors say so."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # not setStream: it flushes the old one, which may be closed
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def setup_logging(verbose: bool = False) -> None:
    """deepanon's log lines to stderr: info and up (training's step rows), debug too with --verbose (tracebacks,
    per-stage timings). Done when a command runs, never at import: a host application keeps its own logging."""
    log = logging.getLogger("deepanon")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        log.addHandler(_StderrHandler())
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
