"""Small charts drawn on the server as inline SVG: no JavaScript, no library, no CDN.

Pure functions from data to markup, tested alone (tests/ui/test_dashboard.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COMPLETED = "#1f7a4d"  # app.css --ok
FAILED = "#b42318"  # app.css --bad
GRID = "#dde1e8"  # app.css --line
TEXT = "#5d6677"  # app.css --muted


@dataclass(frozen=True)
class Bar:
    """One bucket of the chart: two bars side by side."""

    label: str  # under the axis (only some are shown)
    title: str  # the tooltip: when, in words
    completed: int
    failed: int


def nice_ceiling(value: int) -> int:
    """The axis maximum: ``value`` rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if value <= 1:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def outcome_chart(
    bars: Sequence[Bar], title: str, width: int = 480, height: int = 180
) -> SafeString:
    """Completed (green) and failed (red) per bucket as an ``<svg>`` that scales to its box.

    Each bucket is a ``<g class="bucket" data-completed=.. data-failed=..>`` with a
    tooltip; empty bars are left out.
    """
    left, right, top, bottom = 30, 6, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_ceiling(max([b.completed for b in bars] + [b.failed for b in bars] + [0]))
    group = plot_w / max(1, len(bars))
    bar_w = max(1.0, group * 0.38)
    every = max(1, round(len(bars) / 6))  # about six labels under the axis

    def y(value: int) -> float:
        return top + plot_h - plot_h * value / top_value

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
    ]
    for value in sorted({0, top_value // 2, top_value}):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" fill="{TEXT}">'
            f"{value}</text>"
        )
    for i, bar in enumerate(bars):
        x = left + i * group + (group - 2 * bar_w) / 2
        tip = f"{bar.title}: {bar.completed} completed, {bar.failed} failed"
        parts.append(
            f'<g class="bucket" data-completed="{bar.completed}" data-failed="{bar.failed}">'
            f"<title>{escape(tip)}</title>"
            # an invisible full-height target, so empty buckets have a tooltip too
            f'<rect x="{left + i * group:.1f}" y="{top}" width="{group:.1f}" height="{plot_h}" '
            f'fill="transparent"/>'
        )
        for offset, value, colour, kind in (
            (0.0, bar.completed, COMPLETED, "completed"),
            (bar_w, bar.failed, FAILED, "failed"),
        ):
            if value:
                parts.append(
                    f'<rect class="bar-{kind}" x="{x + offset:.1f}" y="{y(value):.1f}" '
                    f'width="{bar_w:.1f}" height="{top + plot_h - y(value):.1f}" '
                    f'fill="{colour}" rx="1"/>'
                )
        parts.append("</g>")
        if i % every == 0:
            parts.append(
                f'<text x="{left + (i + 0.5) * group:.1f}" y="{height - 6}" '
                f'text-anchor="middle" fill="{TEXT}">{escape(bar.label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text inside is escaped above
