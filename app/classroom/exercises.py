"""Checking a lesson's exercises: the learner's answer against what the exercise asks.

Pure functions: `check_architecture` and `check_numbers` take an exercise
(`app/classroom/lessons.py`) and an answer and give a `Verdict`, with a hint that teaches
when it is wrong; `parse_blank`, `architecture_from_blanks` and `parse_numbers` read what
a learner typed into the lesson page's boxes, as Keras would take it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.classroom.lessons import Blank, Exercise
from app.errors import InvalidInput
from app.geometry import pair
from app.networks.architecture import ArchitectureSpec, Summary, check


@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str
    hint: str | None = None
    summary: Summary | None = None


# What each argument means, for hints that teach rather than just say "wrong".
ARGUMENT_HELP = {
    "filters": "filters is how many kernels the layer learns (how many feature maps it makes)",
    "kernel_size": "kernel_size is the height and width of each kernel",
    "activation": "activation is the function applied to each output",
    "pool_size": "pool_size is the height and width of the pooling window",
    "strides": "strides is how far the window moves at each step",
    "padding": "padding says whether zeros are added around the input",
    "units": "units is how many neurons the Dense layer has",
    "rate": "rate is the fraction of units Dropout switches off while training",
}


def _expected(pattern: dict[str, Any]) -> dict[str, Any]:
    """An expected layer in the same canonical terms (only the arguments it names)."""
    out = dict(pattern)
    for key in ("kernel_size", "pool_size", "strides"):
        if key in out:
            out[key] = list(pair(out[key]))
    return out


def _show(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(str(v) for v in value) + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def describe(pattern: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={_show(v)}" for k, v in _expected(pattern).items() if k != "type")
    return f"{pattern['type']}({args})"


def check_architecture(exercise: Exercise, answer: ArchitectureSpec, *, max_layers: int = 50,
                       max_params: int = 5_000_000) -> Verdict:
    """Whether the learner's model is the one the exercise asks for, and if not, the first
    place where it differs, said so that the learner can fix it."""
    if exercise.kind == "numbers":
        return Verdict(False, "This exercise asks for numbers, not a model.", exercise.hint)
    try:
        summary = check(answer, max_layers, max_params)
    except InvalidInput as exc:
        return Verdict(False, f"This model cannot be built: {exc.message}", exercise.hint)
    if exercise.expect_input is not None and tuple(answer.input_shape) != exercise.expect_input:
        return Verdict(False, f"The input shape is {list(answer.input_shape)}; this model is "
                       f"for images of shape {list(exercise.expect_input)}.", exercise.hint,
                       summary)
    got = [layer.canonical() for layer in answer.layers]
    want = [_expected(p) for p in exercise.expect_layers]
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        where = f"Layer {i + 1}"
        if g["type"] != w["type"]:
            return Verdict(False, f"{where} is a {g['type']} layer; here the exercise needs a "
                           f"{w['type']} layer.", exercise.hint, summary)
        for key, value in w.items():
            if key != "type" and g.get(key) != value:
                help_text = ARGUMENT_HELP.get(key, key)
                return Verdict(False, f"{where} ({g['type']}): {key} is {_show(g.get(key))}, "
                               f"which is not what the exercise asks for. Remember: "
                               f"{help_text}.", exercise.hint, summary)
    if len(got) < len(want):
        missing = len(want) - len(got)
        return Verdict(False, f"Your model has {len(got)} layer{'s' * (len(got) != 1)}; "
                       f"{missing} more {'is' if missing == 1 else 'are'} needed: the next is a "
                       f"{want[len(got)]['type']} layer.", exercise.hint, summary)
    if len(got) > len(want):
        extra = answer.layers[len(want)]
        return Verdict(False, f"Your model has {len(got)} layers, {len(got) - len(want)} more "
                       f"than asked: remove layer {len(want) + 1} ({extra.kind}) and any after "
                       "it.", exercise.hint, summary)
    return Verdict(True, exercise.success, None, summary)


def check_numbers(exercise: Exercise, answer: list[float]) -> Verdict:
    """Whether the numbers are the right ones: whole numbers exactly, others to two
    decimals (3.25 and 3.250 agree)."""
    if exercise.kind != "numbers":
        return Verdict(False, "This exercise asks for a model (an architecture), not numbers.",
                       exercise.hint)
    want = exercise.numbers
    if len(answer) != len(want):
        names = ", ".join(exercise.labels) or f"{len(want)} numbers"
        return Verdict(False, f"Give {len(want)} number{'s' * (len(want) != 1)} ({names}); you "
                       f"gave {len(answer)}.", exercise.hint)
    wrong = [i for i, (a, w) in enumerate(zip(answer, want, strict=True))
             if not math.isclose(a, w, rel_tol=0, abs_tol=0 if float(w).is_integer() else 0.005)]
    if not wrong:
        return Verdict(True, exercise.success)
    if len(want) == 1:
        return Verdict(False, f"{_num(answer[0])} is not it.", exercise.hint)
    labels = [exercise.labels[i] if i < len(exercise.labels) else f"number {i + 1}" for i in wrong]
    return Verdict(False, f"Not quite: check {', '.join(labels)}.", exercise.hint)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


# ---------------------------------------------------------------- the page's blanks

def spec_text(body: dict[str, Any]) -> str:
    """A model as JSON to edit by hand: one layer per line."""
    head = {k: v for k, v in body.items() if k != "layers"}
    lines = [f'  "{k}": {json.dumps(v)},' for k, v in head.items()]
    layers = [f"    {json.dumps(layer)}" for layer in body.get("layers", [])]
    return "{\n" + "\n".join(lines) + '\n  "layers": [\n' + ",\n".join(layers) + "\n  ]\n}"


def parse_blank(text: str, blank: Blank) -> Any:
    """What a learner typed into a blank, as Keras would take it: `16`, `3` or `(3, 3)` or
    `3x3`, `relu` or `'relu'`."""
    raw = text.strip().strip("'\"").strip()
    if not raw:
        raise InvalidInput(blank.name, "fill in this blank")
    if blank.kind == "int":
        if not re.fullmatch(r"\d{1,6}", raw):
            raise InvalidInput(blank.name, f"{raw!r} is not a whole number")
        return int(raw)
    if blank.kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise InvalidInput(blank.name, f"{raw!r} is not a number") from None
    if blank.kind == "pair":
        parts = [p for p in re.split(r"[\s,x×()\[\]]+", raw) if p]
        if not parts or len(parts) > 2 or not all(re.fullmatch(r"\d{1,4}", p) for p in parts):
            raise InvalidInput(blank.name, f"{raw!r} is not a size: write 3 or (3, 3)")
        nums = [int(p) for p in parts]
        return nums[0] if len(nums) == 1 else nums
    if not re.fullmatch(r"[a-z_]{1,20}", raw):
        raise InvalidInput(blank.name, f"{raw!r} is not an activation's name, such as relu")
    return raw


def architecture_from_blanks(exercise: Exercise, values: dict[str, str]) -> ArchitectureSpec:
    """The exercise's starting model with the learner's layer appended."""
    layer: dict[str, Any] = {"type": exercise.layer_type}
    for blank in exercise.blanks:
        layer[blank.name] = parse_blank(values.get(blank.name, ""), blank)
    body = {**exercise.start, "layers": [*exercise.start.get("layers", []), layer]}
    try:
        return ArchitectureSpec.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = str(first["loc"][-1]) if first["loc"] else "layer"
        raise InvalidInput(where, str(first["msg"])) from None


def parse_numbers(values: list[str]) -> list[float]:
    out = []
    for i, raw in enumerate(values):
        text = re.sub(r"[\s\u202f]", "", raw).replace("−", "-")
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
            text = text.replace(",", "")  # 51,264
        elif "," in text and "." not in text:
            text = text.replace(",", ".")  # 3,25
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"answer.{i}", f"{raw.strip() or 'an empty box'!r} is not a "
                               "number") from None
        if not math.isfinite(value):
            raise InvalidInput(f"answer.{i}", "must be a finite number")
        out.append(value)
    return out
