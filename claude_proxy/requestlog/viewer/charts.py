"""Charts drawn on the server as inline SVG: no script, no CDN, and they print and export as they are."""

from __future__ import annotations

from typing import Callable, Sequence

from markupsafe import Markup, escape


def bars(points: Sequence[tuple[str, float]], *, title: str, fmt: Callable[[float], str] = str,
         width: int = 720, bar_height: int = 18) -> Markup:
    """Horizontal bars, one per (label, value), longest value full width, each labelled with its value."""
    label_w, value_w = 170, 90
    usable = max(width - label_w - value_w, 50)
    top = max((v for _, v in points), default=0) or 1
    rows = []
    for i, (label, value) in enumerate(points):
        y = 24 + i * (bar_height + 6)
        w = max(1.0, usable * max(value, 0) / top) if value else 0
        rows.append(
            f'<text x="{label_w - 6}" y="{y + bar_height - 5}" text-anchor="end">{escape(label[:28])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" class="bar"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height - 5}">{escape(fmt(value))}</text>')
    height = 30 + len(points) * (bar_height + 6)
    empty = '<text x="10" y="44">no data</text>' if not points else ""
    return Markup(  # noqa: S704 - every label and value is escaped above
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {max(height, 56)}" '
        f'width="{width}" height="{max(height, 56)}"><text x="0" y="14" class="title">{escape(title)}</text>'
        f'{"".join(rows)}{empty}</svg>')


def meter(label: str, used: float | None, limit: float | None, detail: str = "") -> Markup:
    """One headroom gauge: how much of a limit is used (a rate-limit window)."""
    if used is None or not limit:
        share = None
    else:
        share = min(max(used / limit, 0.0), 1.0)
    width = 300
    fill = 0 if share is None else width * share
    level = "ok" if share is None or share < 0.7 else "warn" if share < 0.9 else "hot"
    shown = "unknown" if share is None else f"{share * 100:.0f}% used"
    return Markup(  # noqa: S704 - escaped
        f'<div class="meter"><span class="meter-label">{escape(label)}</span>'
        f'<svg width="{width}" height="14" role="img" aria-label="{escape(label)}: {shown}">'
        f'<rect width="{width}" height="14" class="meter-bg"/>'
        f'<rect width="{fill:.1f}" height="14" class="meter-{level}"/></svg>'
        f'<span class="meter-value">{escape(shown)} {escape(detail)}</span></div>')
