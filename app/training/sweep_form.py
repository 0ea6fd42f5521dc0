"""The sweep form ("Sweep…" in the Model Builder): the settings a learner may vary in their
model, the values they type (`0.001, 0.01, 0.1`, `adam, sgd`, `3x3, 5x5`), and the sweep
request those make with the builder's model as the base."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.networks.layers import LAYER_CLASSES
from app.training.builder import BuilderView
from app.training.sweep_plans import MAX_VARIED, TRAINING_WORDS

ROWS = MAX_VARIED
_INT = re.compile(r"^[+-]?\d+$")
_PAIR = re.compile(r"^(\d+)\s*[x×]\s*(\d+)$")


@dataclass(frozen=True)
class Option:
    path: str
    label: str
    group: str  # "Training" or "Layer 3 (Dropout)"


def options(view: BuilderView) -> list[Option]:
    """Every setting of this model a sweep may vary: the training settings, then each
    layer's arguments as the builder shows them."""
    out = [Option(f"training.{name}", label[0].upper() + label[1:], "Training")
           for name, (label, _) in TRAINING_WORDS.items()]
    for i, layer in enumerate(view.spec["layers"]):
        cls = LAYER_CLASSES.get(str(layer.get("type")))
        for arg, _ in cls.builder_fields if cls else ():
            out.append(Option(f"layers.{i}.{arg}", arg, f"Layer {i + 1} ({layer['type']})"))
    return out


def parse_value(text: str) -> Any:
    """A typed value as JSON would have it: 64 → 64, 0.01 → 0.01, 5x5 → [5, 5],
    true → true; anything else is a word (adam, same)."""
    text = text.strip()
    if _INT.match(text):
        return int(text)
    try:
        number = float(text)
        if math.isfinite(number):
            return number
    except ValueError:
        pass
    pair = _PAIR.match(text)
    if pair:
        return [int(pair[1]), int(pair[2])]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_values(text: str) -> list[Any]:
    return [parse_value(part) for part in text.split(",") if part.strip()]


def written(value: Any) -> str:
    """A value as the form writes it back."""
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def starting_rows(view: BuilderView) -> list[tuple[str, str]]:
    """What the form first offers: the learning rate a factor of ten either side of the
    model's own, the rest empty."""
    try:
        rate = float(view.settings.get("learning_rate") or 0.001)
    except ValueError:
        rate = 0.001
    rates = [r for r in (rate / 10, rate, rate * 10) if 0 < r <= 1]
    first = ("training.learning_rate", ", ".join(f"{r:g}" for r in rates))
    return [first] + [("", "")] * (ROWS - 1)


def rows_of(form: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(str(form.get(f"setting{i}", "")).strip(), str(form.get(f"values{i}", "")))
            for i in range(ROWS)]


def vary_of(rows: list[tuple[str, str]], labels: Mapping[str, str]) -> tuple[dict[str, list[Any]], list[str]]:
    """The `vary` of a sweep request from the form's rows, and what is wrong with them
    (a setting picked twice, or with no values)."""
    vary: dict[str, list[Any]] = {}
    problems: list[str] = []
    for path, text in rows:
        if not path:
            continue
        label = labels.get(path, path)
        if path in vary:
            problems.append(f"{label} is picked twice: pick it once, with all its values")
            continue
        values = parse_values(text)
        if not values:
            problems.append(f"{label}: type at least one value, separated by commas")
            continue
        vary[path] = values
    if not vary and not problems:
        problems.append("pick a setting to vary and type its values")
    return vary, problems
