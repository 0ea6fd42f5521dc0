"""The Model Builder: from the page's fields to a typed view of the model being built.

The page posts its fields as they are typed (`l0.type`, `l0.filters`, …, and the training
settings). `parse_form` turns them into a `BuilderState`, `apply_action` adds, removes,
reorders or loads layers, and `build_view` checks the result exactly as a job would be
checked, so the page shows the summary, and each problem beside the layer it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from app.config import Settings
from app.datasets.builtin import DatasetInfo
from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput
from app.networks.architecture import ArchitectureSpec, Summary, check
from app.networks.layers import LAYER_CLASSES, Conv2D, FieldKind
from app.networks.presets import PRESETS, Preset, get_preset
from app.training.jobs import JOB_ID_PATTERN, JobRequest, check_fits_dataset

ACTIVATIONS = ["relu", "softmax", "sigmoid", "tanh", "linear", "elu", "gelu", "swish"]
OPTIMIZERS = ["adam", "sgd", "rmsprop", "adamw", "nadam", "adagrad"]
TRAINING_FIELDS = ("optimizer", "learning_rate", "batch_size", "epochs", "validation_split",
                   "train_samples", "seed")
ValueKind = FieldKind | Literal["text"]
TRAINING_KINDS: dict[str, ValueKind] = {
    "optimizer": "text", "learning_rate": "float", "batch_size": "int", "epochs": "int",
    "validation_split": "float", "train_samples": "int", "seed": "int"}
DEFAULT_SETTINGS = {"dataset": "mnist", "name": "model", "optimizer": "adam",
                    "learning_rate": "0.001", "batch_size": "64", "epochs": "1",
                    "validation_split": "0.1", "train_samples": "5000"}


@dataclass
class BuilderState:
    """What the learner has typed: layers as raw arguments, settings as raw text."""

    layers: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))

    @classmethod
    def from_preset(cls, name: str) -> BuilderState:
        state = cls()
        apply_action(state, f"preset:{name if get_preset(name) else 'mnist_book'}")
        return state

    @classmethod
    def from_job(cls, dataset: str, name: str, architecture: dict[str, Any],
                 training: dict[str, Any], origin: str = "") -> BuilderState:
        """A job's architecture and settings, seed included ("train again": change one
        thing, and only that thing differs). `origin`: the job's id, so that the new job's
        name says what changed from it."""
        layers = [{k: v for k, v in layer.items() if k != "name"}
                  for layer in architecture.get("layers", [])]
        settings = {**DEFAULT_SETTINGS, "dataset": dataset, "name": name, "origin": origin}
        settings.update({k: "" if training.get(k) is None else str(training[k])
                         for k in TRAINING_FIELDS})
        return cls(layers, settings)


def _value(raw: str, kind: ValueKind) -> Any:
    """A typed value where the text is one, else the text itself, for validation to name."""
    raw = raw.strip()
    if raw == "":
        return None  # omitted: Keras' default applies, or validation says it is required
    if kind in ("pair", "pair?"):
        parts = [p for p in re.split(r"[\s,x×]+", raw) if p]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            return raw
        return nums[0] if len(nums) == 1 else nums
    if kind == "factor":  # "0.1" or "-0.1, 0.2" (a minus sign is part of a number here)
        parts = [p for p in re.split(r"[\s,;]+", raw) if p]
        try:
            floats = [float(p) for p in parts]
        except ValueError:
            return raw
        return floats[0] if len(floats) == 1 else floats
    converters: dict[str, type] = {"int": int, "float": float}
    if kind in converters:
        try:
            return converters[kind](raw)
        except ValueError:
            return raw
    return raw


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_form(form: Mapping[str, Any]) -> BuilderState:
    """Layers and settings from the builder's fields (l0.type, l0.filters, …)."""
    indices = sorted({int(m.group(1)) for k in form if (m := re.match(r"l(\d+)\.type$", k))})
    layers = []
    for i in indices:
        kind = str(form.get(f"l{i}.type", ""))
        layer: dict[str, Any] = {"type": kind}
        cls = LAYER_CLASSES.get(kind)
        for arg, field_kind in cls.builder_fields if cls else ():
            v = _value(str(form.get(f"l{i}.{arg}", "")), field_kind)
            if v is not None:
                layer[arg] = v
        layers.append(layer)
    settings = {k: str(form.get(k, "")) for k in ("dataset", "name", *TRAINING_FIELDS)}
    if re.fullmatch(JOB_ID_PATTERN, str(form.get("origin", ""))):
        settings["origin"] = str(form.get("origin"))
    return BuilderState(layers, settings)


def output_index(layers: list[dict[str, Any]]) -> int | None:
    """The output layer: the first Dense with a softmax (what a classifier ends with), else
    a Dense at the end; None while the model has none."""
    for i, layer in enumerate(layers):
        if layer.get("type") == "Dense" and layer.get("activation") == "softmax":
            return i
    return len(layers) - 1 if layers and layers[-1].get("type") == "Dense" else None


def apply_action(state: BuilderState, action: str) -> None:
    """add:TYPE (before the output layer, if there is one), remove:i, up:i, down:i,
    preset:NAME or empty."""
    layers = state.layers
    verb, _, arg = action.partition(":")
    if verb == "add" and arg in LAYER_CLASSES:
        out = output_index(layers)
        layers.insert(len(layers) if out is None else out, {"type": arg, **LAYER_CLASSES[arg].starter})
    elif verb in ("remove", "up", "down") and arg.isdigit() and int(arg) < len(layers):
        i = int(arg)
        if verb == "remove":
            layers.pop(i)
        elif verb == "up" and i > 0:
            layers[i - 1], layers[i] = layers[i], layers[i - 1]
        elif verb == "down" and i < len(layers) - 1:
            layers[i + 1], layers[i] = layers[i], layers[i + 1]
    elif verb == "preset" and (preset := get_preset(arg)):
        layers[:] = [dict(layer) for layer in preset.architecture["layers"]]
        state.settings.pop("origin", None)  # a fresh start: no job to say changes from
        state.settings.update({"dataset": preset.dataset, "name": preset.name,
                               **{k: str(v) for k, v in preset.training.items()}})
        state.settings.setdefault("train_samples", DEFAULT_SETTINGS["train_samples"])
    elif verb == "empty":
        layers.clear()
        state.settings.pop("origin", None)


@dataclass(frozen=True)
class FieldView:
    arg: str
    kind: FieldKind
    value: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class LayerView:
    type: str
    fields: list[FieldView]


@dataclass(frozen=True)
class RowView:
    name: str
    shape: tuple[int | None, ...]
    params: int
    formula: str  # for Conv2D: ((k_h·k_w·c_in) + 1) · filters = n


@dataclass(frozen=True)
class SummaryRow:
    """One row of the summary the page shows: a layer as Keras counts it; or, while a layer
    is invalid, that layer marked ("invalid") and the ones after it not yet known."""

    type: str
    name: str = ""
    shape: tuple[int | None, ...] = ()
    params: int | None = None
    state: str = "ok"  # ok, invalid or unknown


@dataclass
class BuilderView:
    state: BuilderState
    dataset: DatasetInfo
    spec: dict[str, Any]
    layers: list[LayerView]
    rows: list[RowView | None]
    summary: Summary | None
    layer_errors: dict[int, list[str]]
    general: list[str]
    table: list[SummaryRow] = field(default_factory=list)  # the summary as the page shows it
    warnings: dict[int, list[str]] = field(default_factory=dict)  # layers after the output
    presets: tuple[Preset, ...] = PRESETS
    layer_types: tuple[str, ...] = tuple(LAYER_CLASSES)
    activations: tuple[str, ...] = tuple(ACTIVATIONS)
    optimizers: tuple[str, ...] = tuple(OPTIMIZERS)
    datasets: tuple[DatasetInfo, ...] = ()

    @property
    def settings(self) -> dict[str, str]:
        return self.state.settings

    @property
    def valid(self) -> bool:
        return self.summary is not None and not self.layer_errors and not self.general

    @property
    def preset(self) -> Preset | None:
        return get_preset(self.settings.get("name", ""))


def _pydantic_problems(exc: ValidationError, layer_errors: dict[int, list[str]],
                       general: list[str]) -> None:
    seen: set[tuple[int, str]] = set()
    for e in exc.errors(include_url=False):
        loc = e["loc"]
        if len(loc) >= 2 and loc[0] == "layers" and isinstance(loc[1], int):
            # (layers, i, Type, arg, union-branch…): one message per argument
            arg = str(loc[3]) if len(loc) > 3 else ""
            if (loc[1], arg) in seen:
                continue
            seen.add((loc[1], arg))
            layer_errors.setdefault(loc[1], []).append(f"{arg}: {e['msg']}" if arg else e["msg"])
        else:
            general.append(f"{'.'.join(map(str, loc))}: {e['msg']}")


def _checked(spec_dict: dict[str, Any], state: BuilderState, dataset: DatasetInfo,
             limits: Settings) -> tuple[ArchitectureSpec | None, Summary | None,
                                        dict[int, list[str]], list[str]]:
    """The model checked exactly as a job would be: its summary, or each problem by layer."""
    layer_errors: dict[int, list[str]] = {}
    general: list[str] = []
    spec = summary = None
    if not state.layers:
        general.append("Add a layer, or start from a preset.")
        return spec, summary, layer_errors, general
    try:
        spec = ArchitectureSpec.model_validate(spec_dict)
        summary = check(spec, limits.max_layers, limits.max_params)
        check_fits_dataset(spec, summary, dataset)
    except ValidationError as exc:
        _pydantic_problems(exc, layer_errors, general)
    except InvalidInput as exc:
        m = re.match(r"(?:architecture\.)?layers\.(\d+)$", exc.field)
        if m:
            layer_errors.setdefault(int(m.group(1)), []).append(exc.message)
        else:
            general.append(exc.message)
    return spec, summary, layer_errors, general


def _counted(layers: list[dict[str, Any]], dataset: DatasetInfo) -> Summary | None:
    """These layers' summary without the server's limits (to show), or None."""
    try:
        spec = ArchitectureSpec.model_validate({"input_shape": list(dataset.input_shape),
                                                "layers": layers})
        return check(spec, max_layers=10_000, max_params=10**12)
    except (ValidationError, InvalidInput):
        return None


def summary_table(layers: list[dict[str, Any]], dataset: DatasetInfo, summary: Summary | None,
                  layer_errors: dict[int, list[str]]) -> list[SummaryRow]:
    """The summary the page shows, which stays while a layer is invalid: the layers before
    the first invalid one as Keras counts them, the invalid ones marked, and the ones after
    not yet known (their shapes depend on it)."""
    summary = summary or _counted(layers, dataset)
    if summary is not None:
        return [SummaryRow(r.type, r.name, r.output_shape, r.params,
                           "invalid" if i in layer_errors else "ok")
                for i, r in enumerate(summary.layers)]
    first = min(layer_errors, default=len(layers))
    before = _counted(layers[:first], dataset) if first else None
    rows = [SummaryRow(r.type, r.name, r.output_shape, r.params) for r in
            (before.layers if before is not None else [])]
    return rows + [SummaryRow(str(layers[i].get("type")),
                              state="invalid" if i in layer_errors else "unknown")
                   for i in range(len(rows), len(layers))]


def after_output(layers: list[dict[str, Any]]) -> dict[int, list[str]]:
    """A warning for each layer after the output layer: the model's prediction is what its
    last layer outputs, so a layer there changes it (Keras builds it all the same)."""
    out = output_index(layers)
    if out is None:
        return {}
    words = (f"comes after the output layer (layer {out + 1}, Dense with softmax): the "
             "prediction is what the last layer outputs, so this layer changes it. Move it "
             f"above layer {out + 1}, or remove it.")
    return {j: [words] for j in range(out + 1, len(layers))}


def build_view(state: BuilderState, limits: Settings, catalog: DatasetCatalog) -> BuilderView:
    """Everything the builder shows: the layers, their summary rows and the problems."""
    choices = {d.id: d for d in catalog.list_datasets()}
    dataset = choices.get(state.settings.get("dataset", ""), choices["mnist"])
    state.settings["dataset"] = dataset.id
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", state.settings.get("name") or "model")[:64] or "model"
    spec_dict: dict[str, Any] = {"name": name, "input_shape": list(dataset.input_shape),
                                 "layers": state.layers}
    spec, summary, layer_errors, general = _checked(spec_dict, state, dataset, limits)
    rows: list[RowView | None] = [None] * len(state.layers)
    if summary is not None and spec is not None:
        for i, (layer, row) in enumerate(zip(spec.layers, summary.layers, strict=True)):
            formula = layer.formula(row.input_shape) if isinstance(layer, Conv2D) else ""
            rows[i] = RowView(row.name, row.output_shape, row.params, formula)
    layer_views = []
    for raw in state.layers:
        cls = LAYER_CLASSES.get(str(raw.get("type")))
        fields = [FieldView(arg, kind, display(raw.get(arg)), cls.choices.get(arg, ()))
                  for arg, kind in cls.builder_fields] if cls else []
        layer_views.append(LayerView(str(raw.get("type")), fields))
    return BuilderView(state, dataset, spec_dict, layer_views, rows, summary, layer_errors,
                       general, summary_table(state.layers, dataset, summary, layer_errors),
                       after_output(state.layers), datasets=tuple(choices.values()))


def fit_to_dataset(state: BuilderState, dataset: DatasetInfo) -> None:
    """A newly picked dataset: the input already takes its shape (build_view); the last
    Dense layer gets one unit per class."""
    state.settings["dataset"] = dataset.id
    for layer in reversed(state.layers):
        if layer.get("type") == "Dense":
            layer["units"] = dataset.num_classes
            return


def starting_state(dataset: DatasetInfo) -> BuilderState:
    """A starting model for a dataset: its lesson's preset for a built-in one; for photos of
    one's own, the workshop's CIFAR-10 model with random flips and zooms in front (a small
    dataset needs augmentation). Either way, one output per class."""
    preset = next((p for p in PRESETS if p.dataset == dataset.id), None)
    state = BuilderState.from_preset(preset.name if preset else "cifar_model_intro")
    if preset is None and not dataset.builtin:
        state.layers[:0] = [{"type": "RandomFlip", "mode": "horizontal"},
                            {"type": "RandomZoom", "height_factor": 0.1}]
        state.settings["name"] = re.sub(r"[^A-Za-z0-9_.-]", "_", dataset.id)[:56] + "_cnn"
        state.settings["epochs"] = "10"
    fit_to_dataset(state, dataset)
    return state


def job_request(view: BuilderView) -> JobRequest:
    """The job the learner asked for (raises pydantic's ValidationError on bad settings)."""
    training = {k: _value(view.settings[k], TRAINING_KINDS[k]) for k in TRAINING_FIELDS
                if view.settings.get(k, "").strip()}
    return JobRequest.model_validate({"architecture": view.spec, "dataset": view.dataset.id,
                                      "training": training, "name": view.spec["name"]})
