"""The table (plain text, and Markdown for the README) and the JSON document."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ROOT, Config, Section, fmt


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def _value(metric: Any) -> str:
    return metric.note if metric.value is None else fmt(metric.value)


def _note(metric: Any) -> str:
    return "" if metric.value is None else metric.note


def text_table(sections: list[Section]) -> str:
    lines: list[str] = []
    for sec in sections:
        lines.append("")
        lines.append(sec.title)
        if sec.error:
            lines.append(f"  FAILED: {sec.error}")
            continue
        rows = [("", "median", "spread", "unit", "target", "", "")]
        for m in sec.metrics:
            rows.append((m.name, _value(m), m.spread, m.unit, m.target, _mark(m.ok), _note(m)))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [row[i].rjust(widths[i]) for i in (1, 2)]
            cells += [row[3].ljust(widths[3]), row[4].ljust(widths[4]), row[5].ljust(widths[5])]
            line = "  " + "  ".join(cells)
            if row[6]:
                line += f"  ({row[6]})"
            lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def markdown_table(sections: list[Section]) -> str:
    lines = ["| section | measure | median | spread | target | |", "|---|---|---:|---:|---|---|"]
    for sec in sections:
        label = sec.title.split(" (")[0]
        if sec.error:
            lines.append(f"| {label} | failed: {sec.error} | | | | |")
            continue
        for m in sec.metrics:
            value = _value(m) + ("" if m.value is None else f" {m.unit}")
            note = _note(m)
            name = m.name.strip() + (f" ({note})" if note else "")
            cells = [label, name, value, m.spread, m.target, _mark(m.ok)]
            lines.append("| " + " | ".join(cells) + " |")
            label = ""
    return "\n".join(lines) + "\n"


def loadavg() -> list[float]:
    """1, 5 and 15-minute load averages: how busy the machine was (others share its cores)."""
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return [float(x) for x in handle.read().split()[:3]]
    except (OSError, ValueError):
        return []


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": loadavg(),
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    return info


def document(
    cfg: Config, sections: list[Section], seconds: float, load_start: list[float]
) -> dict[str, Any]:
    info = machine()
    info["loadavg_at_start"] = load_start
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "config": cfg.describe(),
        "machine": info,
        "sections": {sec.key: sec.as_dict() for sec in sections},
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
