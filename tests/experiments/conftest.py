"""Experiment tests use the loopback chat server of tests/collect and the scripted judges of tests/scoring."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in ("collect", "scoring", "experiments"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))
