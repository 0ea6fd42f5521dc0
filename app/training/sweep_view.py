"""What a sweep's page shows: its runs as a table, a parallel-coordinates chart and what
mattered, laid out here (as SVG coordinates) so the page is drawn by the server, once for
every page watching it, and pushed live like a job's panel.

The chart has one axis per varied setting, its values evenly spaced (a sweep tries a few
values, often a factor of ten apart: 0.001, 0.01, 0.1; words such as optimizers are shown
as words), and a last axis of test accuracy, scaled to the runs' range; each run is one
line, coloured by its accuracy. A run not finished yet is a grey dashed line that stops
before the accuracy axis.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from app.training.sweep_plans import TRAINING_WORDS, Setting, shown
from app.training.sweeps import Effect, Run, Sweep

# Viridis (perceptually even, readable with every colour-vision deficiency), from the best
# run (dark) to the worst (light), so the best line stands out on white.
VIRIDIS = ((0.0, (68, 1, 84)), (0.25, (59, 82, 139)), (0.5, (33, 145, 140)),
           (0.75, (94, 201, 98)), (1.0, (253, 231, 37)))
WORST = 0.8  # how far along viridis the worst run is drawn (yellow is too faint on white)
PENDING = "#8a8a8a"
STEPS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25)  # between accuracy ticks


def viridis(t: float) -> str:
    t = min(1.0, max(0.0, t))
    for (t0, c0), (t1, c1) in itertools.pairwise(VIRIDIS):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return "#" + "".join(f"{round(a + (b - a) * f):02x}" for a, b in zip(c0, c1, strict=True))
    return "#fde725"


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


@dataclass(frozen=True)
class Scale:
    """The accuracy range the chart and "what mattered" share."""

    low: float
    high: float

    @classmethod
    def of(cls, accuracies: list[float]) -> Scale:
        """The runs' range, widened to round steps (5 to 6 ticks) so the ticks read well."""
        if not accuracies:
            return cls(0.0, 1.0)
        low, high = min(accuracies), max(accuracies)
        if high - low < 0.02:  # one run, or runs alike: a few points around them
            low, high = low - 0.01, high + 0.01
        for step in STEPS:
            bottom, top = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
            if top == bottom:
                bottom, top = bottom - step, top + step
            if (top - bottom) / step <= 5:
                break
        return cls(max(0.0, round(bottom, 4)), min(1.0, round(top, 4)))

    def t(self, value: float) -> float:
        return (value - self.low) / (self.high - self.low) if self.high > self.low else 0.5

    def colour(self, accuracy: float | None) -> str:
        return PENDING if accuracy is None else viridis(WORST * (1 - self.t(accuracy)))

    def ticks(self) -> list[float]:
        step = next((st for st in STEPS if (self.high - self.low) / st <= 5 + 1e-9), 0.25)
        count = round((self.high - self.low) / step)
        return [round(self.low + step * i, 4) for i in range(count + 1)]


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class Axis:
    x: float
    label: str
    path: str  # the setting, or "test_accuracy"
    ticks: tuple[Tick, ...]
    words: bool = False


@dataclass(frozen=True)
class Line:
    job_id: str
    points: str  # "x,y x,y …"
    colour: str
    best: bool
    finished: bool  # it reaches the accuracy axis
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    top: float
    bottom: float
    axes: tuple[Axis, ...]
    lines: tuple[Line, ...]
    legend: tuple[tuple[float, str], ...]  # (0 to 1, colour) stops of the colour key
    low: str
    high: str


WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 320, 90, 90, 40, 36


def _positions(setting: Setting, top: float, bottom: float) -> dict[str, float]:
    """Each value's height on its axis: evenly spaced, smallest (or first word) at the
    bottom."""
    values = list(setting.values)
    if not setting.words and all(isinstance(v, int | float) for v in values):
        values = sorted(values)
    if len(values) == 1:
        return {shown(values[0]): (top + bottom) / 2}
    step = (bottom - top) / (len(values) - 1)
    return {shown(v): bottom - i * step for i, v in enumerate(values)}


def chart(sweep: Sweep, scale: Scale) -> Chart:
    top, bottom = TOP, HEIGHT - BOTTOM
    n = len(sweep.settings) + 1
    gap = (WIDTH - LEFT - RIGHT) / (n - 1)
    places = [_positions(s, top, bottom) for s in sweep.settings]
    axes = [Axis(LEFT + i * gap, s.label, s.path,
                 tuple(Tick(y, text) for text, y in places[i].items()), s.words)
            for i, s in enumerate(sweep.settings)]

    def accuracy_y(value: float) -> float:
        return bottom - scale.t(value) * (bottom - top)

    digits = 0 if all(round(v * 100, 6) == round(v * 100) for v in scale.ticks()) else 1
    axes.append(Axis(LEFT + (n - 1) * gap, "test accuracy", "test_accuracy",
                     tuple(Tick(accuracy_y(v), percent(v, digits)) for v in scale.ticks())))
    best = sweep.best
    lines = []
    for run in sweep.runs:
        xy = [(axes[i].x, places[i][shown(v)]) for i, v in enumerate(run.values)]
        acc = run.test_accuracy
        if acc is not None:
            xy.append((axes[-1].x, accuracy_y(acc)))
        words = ", ".join(f"{s.label} {shown(v)}" for s, v in zip(sweep.settings, run.values,
                                                                   strict=True))
        lines.append(Line(run.job.id, " ".join(f"{x:.1f},{y:.1f}" for x, y in xy),
                          scale.colour(acc), best is not None and run.job.id == best.job.id,
                          acc is not None, f"{words}: {percent(acc, 2) if acc is not None else run.status}"))
    # The best on top, then by accuracy, unfinished ones underneath.
    lines.sort(key=lambda line: (line.best, line.finished))
    legend = tuple((i / 10, scale.colour(scale.low + (scale.high - scale.low) * i / 10))
                   for i in range(11))
    return Chart(WIDTH, HEIGHT, top, bottom, tuple(axes), tuple(lines), legend,
                 percent(scale.low, digits), percent(scale.high, digits))


@dataclass(frozen=True)
class Bar:
    """One value of a setting: the spread of its runs' accuracies and their mean."""

    text: str
    runs: int
    mean: float | None
    low: float | None
    high: float | None
    x_mean: float
    x_low: float
    x_high: float


@dataclass(frozen=True)
class Mattered:
    setting: Setting
    points: float | None
    sentence: str
    bars: tuple[Bar, ...]


BAR_LEFT, BAR_WIDTH = 110, 300


def mattered(sweep: Sweep, scale: Scale) -> list[Mattered]:
    """Each varied setting's effect, the largest first, with a sentence that says it."""

    def x(value: float | None) -> float:
        return BAR_LEFT + scale.t(value) * BAR_WIDTH if value is not None else BAR_LEFT

    out = []
    for effect in sorted(sweep.effects(), key=lambda e: -(e.points if e.points is not None else -1)):
        bars = tuple(Bar(shown(v.value), v.runs, v.mean, v.low, v.high, x(v.mean), x(v.low),
                         x(v.high)) for v in effect.values)
        out.append(Mattered(effect.setting, effect.points, sentence(effect), bars))
    return out


def sentence(effect: Effect) -> str:
    known = [v for v in effect.values if v.mean is not None]
    name = effect.setting.label
    if effect.points is None or len(known) < 2:
        return f"{name}: not enough finished runs yet to tell."
    low = min(known, key=lambda v: v.mean or 0.0)
    high = max(known, key=lambda v: v.mean or 0.0)
    return (f"{name[0].upper()}{name[1:]} moved the mean test accuracy by "
            f"{effect.points:.1f} points: {percent(high.mean)} with {shown(high.value)}, "
            f"{percent(low.mean)} with {shown(low.value)}.")


@dataclass(frozen=True)
class RunRow:
    number: int
    run: Run
    values: tuple[str, ...]
    keys: tuple[float, ...]  # what the table sorts each value by: a number, else its place
    colour: str
    best: bool


def sort_key(setting: Setting, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float(setting.values.index(value)) if value in setting.values else 0.0


def fixed_settings(sweep: Sweep) -> list[tuple[str, Any]]:
    """The training settings every run shares (the varied ones left out), as words."""
    varied = {s.path for s in sweep.settings}
    training = sweep.row.training or {}
    return [(TRAINING_WORDS[k][0], training[k]) for k in TRAINING_WORDS
            if f"training.{k}" not in varied and training.get(k) not in (None, 0, 0.0)]


@dataclass(frozen=True)
class SweepView:
    sweep: Sweep
    rows: tuple[RunRow, ...]
    chart: Chart
    mattered: tuple[Mattered, ...]
    best: Run | None
    counts: dict[str, int]
    fixed: tuple[tuple[str, Any], ...] = ()


def view(sweep: Sweep) -> SweepView:
    accuracies = [r.test_accuracy for r in sweep.runs if r.test_accuracy is not None]
    scale = Scale.of(accuracies)
    best = sweep.best
    rows = tuple(RunRow(i + 1, r, tuple(shown(v) for v in r.values),
                        tuple(sort_key(s, v) for s, v in zip(sweep.settings, r.values, strict=True)),
                        scale.colour(r.test_accuracy), best is not None and r.job.id == best.job.id)
                 for i, r in enumerate(sweep.runs))
    counts: dict[str, Any] = {s: sweep.count(s) for s in
                              ("queued", "running", "succeeded", "failed", "cancelled")}
    return SweepView(sweep, rows, chart(sweep, scale), tuple(mattered(sweep, scale)), best, counts,
                     tuple(fixed_settings(sweep)))
