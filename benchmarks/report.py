"""One row per measured number, printed as one table and written as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS, MISS, INFO, ERROR = "pass", "MISS", "info", "ERROR"


@dataclass
class Metric:
    """A measured number with its target. `status` is pass / MISS / info (no target) / ERROR."""

    bench: int
    key: str
    label: str
    value: float | int | str | None
    unit: str = ""
    target: str = ""
    status: str = INFO
    details: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        if isinstance(self.value, float):
            return f"{self.value:,.1f}" if abs(self.value) >= 100 else f"{self.value:,.2f}"
        if isinstance(self.value, int):
            return f"{self.value:,}"
        return str(self.value)


def at_least(value: float, target: float) -> str:
    return PASS if value >= target else MISS


def at_most(value: float, target: float) -> str:
    return PASS if value <= target else MISS


def table(metrics: list[Metric], *, title: str) -> str:
    rows = [("#", "metric", "value", "unit", "target", "status")]
    rows += [(str(m.bench), m.label, m.shown(), m.unit, m.target, m.status) for m in metrics]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = {2}

    def line(row):
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([title, "", line(rows[0]), rule, *(line(r) for r in rows[1:])])


def write_json(path: Path, *, header: dict[str, Any], metrics: list[Metric]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**header, "metrics": [asdict(m) for m in metrics]}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
