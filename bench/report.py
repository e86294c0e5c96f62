"""The same figures three ways: a table on the terminal, JSON, and bench/RESULTS.md."""

from __future__ import annotations

import json
from pathlib import Path

from bench.sections.common import Section


def _table(columns: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return [line(columns), sep, *(line(r) for r in rows)]


def _noise(section: Section) -> str:
    mean = section.noise.get("foreign_cores_mean")
    peak = section.noise.get("foreign_cores_max")
    if mean is None:
        return ""
    return f"other work on the machine meanwhile: {mean:.2f} cores on average, {peak:.2f} at peak"


def render_section(section: Section) -> list[str]:
    lines = [f"### {section.title}", ""]
    if section.skipped:
        return lines + [f"Skipped: {section.skipped}", ""]
    if section.rows:
        lines += _table(section.columns, section.rows) + [""]
    notes = [*section.notes, _noise(section)]
    lines += [f"- {n}" for n in notes if n]
    return lines + [""]


def checks_table(sections: list[Section]) -> list[str]:
    rows = []
    for section in sections:
        for check in section.checks:
            verdict = {True: "met", False: "NOT MET", None: "not measured"}[check.ok]
            rows.append([check.target, check.measured, verdict])
    if not rows:
        return []
    return ["### Targets", "", *_table(["target", "measured", "verdict"], rows), ""]


def render(sections: list[Section]) -> str:
    lines: list[str] = []
    lines += checks_table(sections)
    for section in sections:
        lines += render_section(section)
    return "\n".join(lines)


def noisy(sections: list[Section], threshold: float = 0.15) -> bool:
    return any((s.noise.get("foreign_cores_mean") or 0) > threshold for s in sections)


def write_json(path: Path, header: dict, sections: list[Section]) -> None:
    data = {**header, "sections": {s.key: s.as_dict() for s in sections},
            "targets": [{"section": s.key, **c.as_dict()} for s in sections for c in s.checks]}
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def write_markdown(path: Path, header: dict, sections: list[Section]) -> None:
    m = header["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Written by `python -m bench` from one run; do not edit by hand (run it again instead).",
        "",
        f"- when: {header['finished']} (UTC), {header['seconds']:.0f} s",
        f"- command: `{header['command']}`",
        f"- commit: {header['commit']}",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, {m['os']}",
        f"- software: Python {m['python']}, aiohttp {m['aiohttp']}, uvloop {m['uvloop']}, {m['wrk']}, {m['nginx']}",
        f"- load average at start: {header['loadavg_start']:.2f}, at end: {header['loadavg_end']:.2f}",
    ]
    if noisy(sections):
        lines.append("- **noisy run**: other processes used CPU during some sections (see each section's note); "
                     "ratios come from alternating rounds, absolute figures are lower than on a quiet machine")
    lines += ["", render(sections)]
    path.write_text("\n".join(lines).rstrip() + "\n")
