"""Tables for the terminal and the JSON record of a run (bench/results/<timestamp>.json).

Each benchmark fills one `Table`: a row per measure with Signpost's figure, the baseline
measured in the same run, their ratio, the target and whether it is met. No asserts: a
benchmark reports, people decide.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    measure: str
    signpost: float | None
    unit: str
    baseline_name: str = ""
    baseline: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target for this row
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if self.signpost is None or not self.baseline:
            return None
        return self.signpost / self.baseline


@dataclass
class Table:
    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def add(self, *args: Any, **kwargs: Any) -> Row:
        row = Row(*args, **kwargs)
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit in ("ms", "s", "x") or abs(value) < 100:
        text = f"{value:,.2f}" if abs(value) < 10 else f"{value:,.1f}"
    else:
        text = f"{value:,.0f}"
    return text


def render(table: Table) -> str:
    header = ("measure", "Signpost", "baseline (same run, same broker)", "ratio", "target", "target met")
    lines = [[r.measure + (f" [{r.unit}]" if r.unit else ""), fmt(r.signpost, r.unit),
              (f"{fmt(r.baseline, r.unit)}  {r.baseline_name}" if r.baseline_name else "-"),
              f"{r.ratio:.3f}" if r.ratio is not None else "-", r.target or "-",
              "-" if r.met is None else ("yes" if r.met else "no")] for r in table.rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    out = [f"== {table.title} =="]
    if table.error:
        out.append(f"!! {table.error}")
    out.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out += [f"  * {n}" for n in table.notes]
    return "\n".join(out)


def machine() -> dict[str, Any]:
    import os

    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["mem_gib"] = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def write_json(tables: list[Table], meta: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (time.strftime("%Y%m%dT%H%M%S") + ".json")
    doc = {
        "meta": meta,
        "benchmarks": {
            t.name: {"title": t.title, "error": t.error, "notes": t.notes, "rows": [asdict(r) | {"ratio": r.ratio} for r in t.rows], "raw": t.raw}
            for t in tables
        },
    }
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path
