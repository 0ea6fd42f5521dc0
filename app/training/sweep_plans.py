"""Planning a sweep: the settings it varies, each checked as one of this model's, and its
grid of runs, each checked exactly as `POST /api/jobs` checks a job (app/training/sweeps.py
queues them and reads them back).
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StrictBool, StrictFloat, StrictInt, ValidationError

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput, LimitExceeded
from app.networks.architecture import ArchitectureSpec
from app.training.jobs import JobRequest, TrainingSettings, resolve_architecture, validate_request

SWEEP_ID_PATTERN = r"^[0-9a-f]{12}$"
SWEEP_JOBS_CEILING = 64  # the most CNNPG_MAX_SWEEP_JOBS may be set to
MAX_VARIED = 3
VARY_PATH_PATTERN = r"^(training\.[a-z_]{1,32}|layers\.[0-9]{1,2}\.[a-z_]{1,32})$"
# What a setting's value may be: a number, a word (an optimizer, a padding), a flag, or a
# pair (a kernel size); whether it suits its setting is checked as a job checks it.
VaryValue = (StrictBool | StrictInt | StrictFloat | Annotated[str, Field(min_length=1, max_length=32)]
             | Annotated[list[StrictInt | StrictFloat], Field(min_length=1, max_length=4)])
VaryValues = Annotated[list[VaryValue], Field(min_length=1, max_length=SWEEP_JOBS_CEILING)]
VaryPath = Annotated[str, Field(pattern=VARY_PATH_PATTERN, max_length=48)]

# Training settings, as pages say them and as a run's name says them.
TRAINING_WORDS: dict[str, tuple[str, str]] = {
    "optimizer": ("optimizer", ""), "learning_rate": ("learning rate", "lr"),
    "batch_size": ("batch size", "batch"), "epochs": ("epochs", "epochs"),
    "validation_split": ("validation split", "val"), "train_samples": ("training images", "images"),
    "seed": ("seed", "seed")}


class SweepRequest(JobRequest):
    """A job request (the base every run starts from) and the settings to vary."""

    vary: Annotated[dict[VaryPath, VaryValues], Field(
        min_length=1, max_length=MAX_VARIED, json_schema_extra={"additionalProperties": False},
        description="Up to three settings, each a dotted path into the job request "
        '("training.learning_rate", "training.batch_size", "training.epochs", '
        '"training.optimizer", "training.seed", …, or "layers.N.<argument>" for layer N of '
        'the architecture, counted from 0, e.g. "layers.0.filters"), each with the values to '
        "try. The grid is every combination: at most CNNPG_MAX_SWEEP_JOBS (12) runs.")]


def shown(value: Any) -> str:
    """A value as a person reads it (and as JSON writes it): 0.01, adam, [3, 3]."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class Setting:
    """One varied setting: its path, its values, and how people say it."""

    path: str
    values: tuple[Any, ...]
    label: str  # "learning rate", "layer 1 (Conv2D) filters"
    short: str  # in a run's name: "lr", "L1 filters"
    words: bool  # its values are words (an optimizer): a chart shows them as such


def describe(path: str, spec: ArchitectureSpec) -> tuple[str, str]:
    """(label, short) of a setting path of this model; InvalidInput naming the path when
    it is not one of its settings."""
    field = f"vary.{path}"
    head, _, rest = path.partition(".")
    if head == "training":
        if rest not in TrainingSettings.model_fields:
            raise InvalidInput(field, f"{rest!r} is not a training setting; they are "
                               f"{', '.join(TrainingSettings.model_fields)}")
        return TRAINING_WORDS.get(rest, (rest, rest))
    index_text, _, arg = rest.partition(".")
    index = int(index_text)
    if index >= len(spec.layers):
        raise InvalidInput(field, f"the model has {len(spec.layers)} layers, layers.0 to "
                           f"layers.{len(spec.layers) - 1}: there is no layer {index}")
    layer = spec.layers[index]
    args = [a for a in type(layer).model_fields if a not in ("type", "name")]
    if arg not in args:
        raise InvalidInput(field, f"layer {index} is a {layer.kind}, which has no argument "
                           f"{arg!r}" + (f"; its arguments are {', '.join(args)}" if args
                                         else " to vary"))
    return f"layer {index + 1} ({layer.kind}) {arg}", f"L{index + 1} {arg}"


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """The job request `base` with the setting at `path` set to `value` (a new dict)."""
    out = copy.deepcopy(base)
    head, _, rest = path.partition(".")
    if head == "training":
        out["training"][rest] = value
    else:
        index, _, arg = rest.partition(".")
        out["architecture"]["layers"][int(index)][arg] = value
    return out


def _problem(exc: ValidationError | InvalidInput, path: str = "") -> str:
    """The first problem a job's checks found, with where it is unless that is `path`."""
    if isinstance(exc, InvalidInput):
        where, message = exc.field, exc.message
    else:
        first = exc.errors(include_url=False)[0]
        # Leave out the layer type pydantic names a union member by (Conv2D, "a preset name").
        where = ".".join(str(p) for p in first["loc"]
                         if not str(p)[:1].isupper() and " " not in str(p))
        message = str(first["msg"])
    if not where or where in (path, f"architecture.{path}"):
        return message
    return f"{where}: {message}"


@dataclass(frozen=True)
class Plan:
    """A checked sweep, before anything is queued: its settings and its runs' requests."""

    name: str
    spec: ArchitectureSpec
    dataset: str
    training: dict[str, Any]  # the base settings, with the seed every run shares
    settings: tuple[Setting, ...]
    runs: tuple[tuple[tuple[Any, ...], JobRequest], ...]  # each run's values and request


def _settings(req: SweepRequest, spec: ArchitectureSpec, limits: Settings) -> tuple[Setting, ...]:
    """The varied settings, each one of this model's, with no value twice, and a grid no
    larger than CNNPG_MAX_SWEEP_JOBS."""
    settings = []
    for path, values in req.vary.items():
        label, short = describe(path, spec)
        for i, value in enumerate(values):
            if value in values[:i]:
                raise InvalidInput(f"vary.{path}", f"{shown(value)} is given twice")
        settings.append(Setting(path, tuple(values), label, short,
                                all(isinstance(v, str) for v in values)))
    count = math.prod(len(s.values) for s in settings)
    if count > limits.max_sweep_jobs:
        sizes = " × ".join(str(len(s.values)) for s in settings)
        raise LimitExceeded("vary", f"the grid makes {count} runs ({sizes} values), over the "
                            f"limit of {limits.max_sweep_jobs} (CNNPG_MAX_SWEEP_JOBS): try "
                            "fewer values")
    return tuple(settings)


def _checked(request: dict[str, Any], limits: Settings, datasets: DatasetCatalog) -> JobRequest:
    """The job request, checked exactly as POST /api/jobs checks one."""
    job = JobRequest.model_validate(request)
    validate_request(job, limits, datasets)
    return job


def plan(req: SweepRequest, limits: Settings, datasets: DatasetCatalog) -> Plan:
    """Check a sweep as POST /api/jobs would check each of its runs, and say the first
    problem with the field at fault: the base model and settings, a setting that is not
    one, a value that is not valid for its setting, or a grid over CNNPG_MAX_SWEEP_JOBS."""
    spec = resolve_architecture(req.architecture)
    training = req.training.model_dump()
    if "training.seed" not in req.vary and training.get("seed") is None:
        training["seed"] = secrets.randbelow(2**31)  # one seed for every run
    base = {"architecture": spec.model_dump(mode="json", exclude_none=True),
            "dataset": req.dataset, "training": training}
    _checked(base, limits, datasets)  # the base must train, its problems named as a job's
    settings = _settings(req, spec, limits)
    for s in settings:  # each value alone, so that a bad one is named with its setting
        for value in s.values:
            try:
                _checked(with_value(base, s.path, value), limits, datasets)
            except (ValidationError, InvalidInput) as exc:
                raise InvalidInput(f"vary.{s.path}", f"{shown(value)} is not a valid "
                                   f"{s.path} here: {_problem(exc, s.path)}") from None
    name = req.name or spec.name
    runs = []
    for values in itertools.product(*(s.values for s in settings)):
        request = base
        for s, value in zip(settings, values, strict=True):
            request = with_value(request, s.path, value)
        pairs = list(zip(settings, values, strict=True))
        words = " · ".join(f"{s.short} {shown(v)}".strip() for s, v in pairs)
        request["name"] = f"{name} · {words}"[:64]
        try:  # each value is valid alone; together they may still not fit
            runs.append((values, _checked(request, limits, datasets)))
        except (ValidationError, InvalidInput) as exc:
            together = ", ".join(f"{s.path} = {shown(v)}" for s, v in pairs)
            raise InvalidInput("vary", f"the run with {together} cannot train: "
                               f"{_problem(exc)}") from None
    return Plan(name, spec, req.dataset, training, settings, tuple(runs))
