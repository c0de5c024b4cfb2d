"""Geometry of the indicator page's charts, drawn as SVG by a Jinja template (no script, no
asset from elsewhere, the CSP intact: docs/adr/0027).

A chart is a fixed `viewBox` (`WIDTH` × `HEIGHT` user units) that the stylesheet scales to the
page's width; everything here is in those units. Amounts are cents; the y scale runs from
min(0, lowest) to max(0, highest) rounded out to a "nice" step (1, 2, 2.5 or 5 × 10^k), so
the zero line is always drawn and negative values (overdrafts, credit notes) go below it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 400
HEIGHT = 240
LEFT = 52  # room for the y labels
RIGHT = 8
TOP = 10
BOTTOM = 26  # room for the month labels
_STEPS = (1, 2, 2.5, 5, 10)


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Scale:
    """Cents to y (user units), and the ticks to draw."""

    low: int
    high: int
    ticks: list[Tick]

    def y(self, cents: int) -> float:
        span = self.high - self.low or 1
        return round(TOP + (self.high - cents) * (HEIGHT - TOP - BOTTOM) / span, 1)

    @property
    def zero(self) -> float:
        return self.y(0)


def nice_step(span: int, count: int = 4) -> int:
    """A round step (cents) dividing `span` into at most about `count` intervals."""
    if span <= 0:
        return 100
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in _STEPS if s * power >= raw)
    return max(1, math.ceil(step))


def make_scale(values: Sequence[int], label: Callable[[int], str]) -> Scale:
    low, high = min(0, *values) if values else 0, max(0, *values) if values else 0
    step = nice_step(high - low or 100)
    low = math.floor(low / step) * step
    high = max(math.ceil(high / step) * step, low + step)
    scale = Scale(low, high, [])
    ticks = [Tick(scale.y(v), label(v)) for v in range(low, high + 1, step)]
    return Scale(low, high, ticks)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    cents: int


@dataclass(frozen=True)
class Slot:
    """One month of a bar chart: its label and a bar per series (None: no figure)."""

    x: float  # centre
    label: str
    bars: list[Bar]
    previous: list[Bar | None]


@dataclass(frozen=True)
class BarChart:
    scale: Scale
    slots: list[Slot]


def _bar(scale: Scale, x: float, width: float, cents: int) -> Bar:
    top, zero = scale.y(max(cents, 0)), scale.y(min(cents, 0))
    return Bar(round(x, 1), top, round(width, 1), round(max(zero - top, 0.0), 1), cents)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Sequence[int]],
    previous: Sequence[Sequence[int | None]],
    money_label: Callable[[int], str],
) -> BarChart:
    """Bars side by side per month (one per series), each with the previous exercice's value
    at the same place as an outline (`previous[s][i]`, None: none)."""
    values = [v for s in (*series, *previous) for v in s if v is not None]
    scale = make_scale(values, money_label)
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / count
    width = slot * 0.7 / max(len(series), 1)
    slots = []
    for i, label in enumerate(labels):
        start = LEFT + i * slot + slot * 0.15
        bars, before = [], []
        for s, values_of in enumerate(series):
            x = start + s * width
            bars.append(_bar(scale, x, width, values_of[i]))
            old = previous[s][i] if i < len(previous[s]) else None
            before.append(None if old is None else _bar(scale, x, width, old))
        slots.append(Slot(round(LEFT + (i + 0.5) * slot, 1), label, bars, before))
    return BarChart(scale, slots)


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    cents: int
    label: str


@dataclass(frozen=True)
class LineChart:
    scale: Scale
    labels: list[tuple[float, str]]  # x, month label
    current: list[Point]
    previous: list[Point]

    @staticmethod
    def path(points: Sequence[Point]) -> str:
        return " ".join(f"{p.x},{p.y}" for p in points)


def line_chart(
    labels: Sequence[str],
    current: Sequence[int],
    previous: Sequence[int | None],
    money_label: Callable[[int], str],
) -> LineChart:
    """A curve per exercice at the months' positions (the previous one dotted by the template)."""
    values = [*current, *(v for v in previous if v is not None)]
    scale = make_scale(values, money_label)
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / count
    xs = [round(LEFT + (i + 0.5) * slot, 1) for i in range(len(labels))]
    return LineChart(
        scale,
        list(zip(xs, labels, strict=True)),
        [Point(xs[i], scale.y(v), v, labels[i]) for i, v in enumerate(current)],
        [
            Point(xs[i], scale.y(v), v, labels[i])
            for i, v in enumerate(previous[: len(labels)])
            if v is not None
        ],
    )
