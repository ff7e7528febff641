"""Experiment tests use the loopback chat server of tests/collect, the scripted judges of tests/scoring and the
synthetic labels and tiny backbones of tests/training."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
for folder in ("collect", "scoring", "training", "experiments"):
    if str(TESTS / folder) not in sys.path:
        sys.path.insert(0, str(TESTS / folder))
