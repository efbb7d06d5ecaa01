"""Polling helper for tests that wait on real worker processes."""
from __future__ import annotations

import time


def wait_until(predicate, timeout: float, what: str, interval: float = 0.3):
    """Call ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
