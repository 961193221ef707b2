"""One self-contained HTML file: inline CSS and SVG charts, no script, every string escaped.

Jinja2 escapes every value the template prints (autoescape), and the text is made
terminal-safe first, so a process named <img src=x onerror=alert(1)> stays text and a bidi
override cannot reorder what the reader sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Any

from markupsafe import Markup

from nsaudit import workers
from nsaudit.render.document import Chart, Document, Table
from nsaudit.render.escape import terminal

WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 760, 240, 48, 28, 12, 12
PALETTE = ("#1b6ca8", "#d1495b", "#2a9d8f", "#e9a03b", "#6a4c93", "#8c564b", "#3d405b", "#5fad56")


@dataclass(frozen=True)
class Drawn:
    """A chart as geometry: numbers for the template, labels escaped by it."""

    kind: str
    width: int
    height: int
    grid: tuple[tuple[float, str], ...]  # (y, label)
    x_labels: tuple[tuple[float, str, str], ...]  # (x, label, text-anchor)
    lines: tuple[tuple[str, str, str], ...]  # (name, colour, "x,y x,y ...")
    bars: tuple[tuple[float, float, float, float, str, str], ...]  # x, y, w, h, colour, title
    legend: tuple[tuple[str, str], ...]  # (name, colour)


def _scale(top: int) -> tuple[int, tuple[int, ...]]:
    """A round maximum and five ticks (1, 2 or 5 times a power of ten) for values up to top."""
    top = max(top, 1)
    step = next(m * 10**e for e in range(19) for m in (1, 2, 5) if m * 10**e * 4 >= top)
    ticks = tuple(step * i for i in range(5))
    return ticks[-1], ticks


def draw(chart: Chart) -> Drawn:
    values = [v for _, vs in chart.series for v in vs]
    top, ticks = _scale(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    n = len(chart.x)

    def y(v: int) -> float:
        return round(TOP + plot_h - plot_h * v / top, 1)

    grid = tuple((y(t), str(t)) for t in ticks)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(chart.series))]
    legend = tuple((name, colours[i]) for i, (name, _) in enumerate(chart.series))
    picks = sorted({0, n // 2, n - 1}) if n else []

    def anchor(i: int) -> str:
        return "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"

    if chart.kind == "line":

        def x(i: int) -> float:
            return round(LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2), 1)

        lines = tuple(
            (name, colours[k], " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(vs)))
            for k, (name, vs) in enumerate(chart.series)
        )
        return Drawn(
            "line",
            WIDTH,
            HEIGHT,
            grid,
            tuple((x(i), chart.x[i], anchor(i)) for i in picks),
            lines,
            (),
            legend,
        )
    slot = plot_w / max(n, 1)
    width = max(slot * 0.8 / max(len(chart.series), 1), 1.0)
    bars = []
    for k, (name, vs) in enumerate(chart.series):
        for i, v in enumerate(vs):
            left = LEFT + slot * i + slot * 0.1 + width * k
            bars.append(
                (
                    round(left, 1),
                    y(v),
                    round(width, 1),
                    round(TOP + plot_h - y(v), 1),
                    colours[k],
                    f"{chart.x[i]}: {v} {name}",
                )
            )
    return Drawn(
        "bars",
        WIDTH,
        HEIGHT,
        grid,
        tuple((round(LEFT + slot * (i + 0.5), 1), chart.x[i], anchor(i)) for i in picks),
        (),
        tuple(bars),
        legend,
    )


def _sections(tables: tuple[Table, ...]) -> list[tuple[str | None, str, list[Table]]]:
    """The tables by section, in order: (name, kind, tables)."""
    sections: list[tuple[str | None, str, list[Table]]] = []
    for table in tables:
        if not sections or sections[-1][0] != table.section:
            # In print, each host starts a page; the policy and fleet summary share the first.
            host = (table.section or "").startswith("Host ")
            sections.append((table.section, "host" if host else "summary", []))
        sections[-1][2].append(table)
    return sections


def _table(table: Table) -> dict[str, Any]:
    status = [c in table.status_columns for c in table.columns]
    return {
        "title": table.title,
        "columns": table.columns,
        "rows": [
            [(terminal(v), v.split(" ", 1)[0] if status[i] else "") for i, v in enumerate(row)]
            for row in table.rows
        ],
        "chart": draw(table.chart) if table.chart is not None else None,
    }


class HtmlFormat:
    def render(self, doc: Document) -> str:
        from jinja2 import Environment

        templates = resources.files("nsaudit.render").joinpath("templates")
        env = Environment(
            autoescape=True, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True
        )
        env.filters["safe_text"] = terminal
        page = env.from_string(templates.joinpath("report.html.j2").read_text(encoding="utf-8"))
        section = env.from_string(templates.joinpath("section.html.j2").read_text(encoding="utf-8"))
        sections = _sections(doc.tables)
        # A fleet's host sections are made several at once, in worker processes (they share
        # nothing); the page then holds each as made (the macro escaped what it printed).
        # One host's page is made here: a fork would cost more than its few sections.
        fleet = sum(kind == "host" for _, kind, _ in sections) > 1
        made = workers.ordered(
            range(len(sections)),
            partial(_section, section.module, sections),
            workers.cores() if fleet else 1,
        )
        return page.render(
            title=doc.title,
            lines=doc.lines,
            sections=[Markup(html) for html in made],
            warnings=doc.warnings,
        )


def _section(module: Any, sections: list[tuple[str | None, str, list[Table]]], n: int) -> str:
    name, kind, tables = sections[n]
    return str(module.section_html({"name": name, "kind": kind, "tables": map(_table, tables)}))
