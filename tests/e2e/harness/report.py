"""Measured numbers: printed (visible with pytest -s / -rA) and appended to
tests/artifacts/e2e-summary.jsonl so they survive the run."""
from __future__ import annotations

import json
import time

from .paths import ARTIFACTS


def record(test: str, **numbers) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    line = {"test": test, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **numbers}
    with open(ARTIFACTS / "e2e-summary.jsonl", "a") as f:
        f.write(json.dumps(line, default=str) + "\n")
    print(f"\n[e2e-measure] {json.dumps(line, default=str)}")
