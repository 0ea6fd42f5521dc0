"""The Model Builder's state as a link: every layer and setting, compact, and read back to
the nearest valid state.

A link names a preset when the state is exactly that preset (`/builder?preset=mnist_book`);
otherwise it holds each layer as one `l` parameter, written like a Keras call with short
argument names (ARG_KEYS) and Keras' defaults left out, and each setting by its own name:

    /builder?dataset=mnist&name=my_model&optimizer=adam&…&l=Conv2D(f=32,k=5x5,a=relu)
            &l=MaxPooling2D(ps=2x2)&l=Flatten&l=Dense(u=10,a=softmax)

The page rewrites its address to this after every change (static/js/builder.js reads it
from the summary), so a link reopens exactly what was on the screen. Reading one back, a
value that no layer or setting can take (out of its range, not a number, not one of its
choices, an unknown layer, argument, preset, dataset or job, a malformed layer) becomes
the nearest one that can, and each change is said. A model whose layers are each valid
but do not fit together (a kernel larger than its input, too many parameters) is what the
link holds: the builder shows it with the reason beside the layer, as it would have.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, unquote, urlencode

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import NotFound
from app.links import clamped, number_bounds, repaired
from app.networks.architecture import MODEL_NAME_PATTERN
from app.networks.layers import LAYER_CLASSES, FieldKind, Layer
from app.networks.presets import PRESETS, get_preset
from app.training import builder
from app.training.builder import DEFAULT_SETTINGS, OPTIMIZERS, TRAINING_FIELDS, BuilderState
from app.training.jobs import JOB_ID_PATTERN, JobStore, TrainingSettings

# One short name per builder argument (unique across layer types, so a link reads the same
# whatever the layer).
ARG_KEYS: dict[str, str] = {
    "filters": "f", "kernel_size": "k", "strides": "s", "padding": "p", "activation": "a",
    "pool_size": "ps", "rate": "r", "units": "u", "mode": "m", "factor": "fa",
    "fill_mode": "fm", "height_factor": "hf", "width_factor": "wf", "value_range": "vr",
}
ARGS_BY_KEY = {v: k for k, v in ARG_KEYS.items()}
SETTING_NAMES = ("dataset", "name", *TRAINING_FIELDS)
_LAYER = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(?:\((.*)\))?\s*$", re.S)
# Characters that need no escaping in a query value (a link stays readable).
_SAFE = "()=,:"


# ------------------------------------------------------------------------------ writing


def _text(value: Any) -> str:
    """A parsed value as the link writes it: pairs as 5x5, numbers as Python writes them;
    anything else (text the learner typed that is not a value) escaped."""
    if isinstance(value, list | tuple):
        return "x".join(_text(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    return quote(str(value), safe="_.-")


def _default(cls: type[Layer], arg: str) -> Any:
    info = cls.model_fields[arg]
    return None if info.is_required() else info.default


def _omitted(kind: FieldKind, value: Any) -> bool:
    """Left out of the link: nothing typed, or padding "valid" (the first choice, which the
    builder shows when none is given, and Keras' default)."""
    return value is None or (kind == "padding" and value == "valid")


def layer_text(layer: dict[str, Any]) -> str:
    """One layer as the link writes it: `Conv2D(f=32,k=5x5,a=relu)`."""
    kind = str(layer.get("type"))
    cls = LAYER_CLASSES.get(kind)
    if cls is None:
        return quote(kind, safe="")
    args = [f"{ARG_KEYS[arg]}={_text(layer[arg])}" for arg, field_kind in cls.builder_fields
            if arg in layer and not _omitted(field_kind, layer[arg])]
    return f"{kind}({','.join(args)})" if args else kind


def _canonical(state: BuilderState) -> list[dict[str, Any]] | None:
    """The layers with Keras' defaults filled in (None where one is not valid)."""
    try:
        return [LAYER_CLASSES[str(layer["type"])].model_validate(layer).canonical()
                for layer in state.layers]
    except (ValidationError, KeyError):
        return None


def preset_of(state: BuilderState) -> str | None:
    """The preset this state is exactly, if it is one (layers and settings)."""
    preset = get_preset(state.settings.get("name", ""))
    if preset is None:
        return None
    fresh = BuilderState.from_preset(preset.name)
    if {k: v for k, v in state.settings.items() if v} != {k: v for k, v in fresh.settings.items() if v}:
        return None
    mine = _canonical(state)
    return preset.name if mine is not None and mine == _canonical(fresh) else None


def url(state: BuilderState) -> str:
    """The builder's address for this state."""
    preset = preset_of(state)
    if preset is not None:
        return "/builder?" + urlencode({"preset": preset})
    pairs = [(k, state.settings[k]) for k in SETTING_NAMES if state.settings.get(k, "").strip()]
    if state.settings.get("origin"):  # trained again from this job: its name says what changed
        pairs.append(("from", state.settings["origin"]))
    pairs += [("l", layer_text(layer)) for layer in state.layers]
    return "/builder?" + urlencode(pairs, safe=_SAFE)


# ------------------------------------------------------------------------------ reading


def repair_layer(i: int, layer: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """The nearest valid layer (app/links.py): numbers out of their range clamped to it,
    anything else an argument cannot take replaced by Keras' default or the builder's
    starting value. Only the arguments the layer had (or needed) stay, so its link stays
    short."""
    kind = str(layer["type"])
    cls = LAYER_CLASSES[kind]
    fixed = repaired(cls, layer, changes, where=f"layer {i + 1} ({kind})",
                     starter={"type": kind, **cls.starter}, written=_text)
    return {"type": kind, **fixed.model_dump(mode="json", exclude_unset=True,
                                             exclude={"name", "type"})}


def _layers(texts: Sequence[str], limits: Settings, changes: list[str]) -> list[dict[str, Any]]:
    if len(texts) > limits.max_layers:
        changes.append(f"the link has {len(texts)} layers, over the limit of "
                       f"{limits.max_layers} (CNNPG_MAX_LAYERS): kept the first {limits.max_layers}")
        texts = texts[:limits.max_layers]
    form: dict[str, str] = {}
    kept = 0
    for n, text in enumerate(texts):
        m = _LAYER.match(text)
        kind = m.group(1) if m else ""
        if not m or kind not in LAYER_CLASSES:
            shown = unquote(text)[:40]
            changes.append(f"layer {n + 1} of the link, {shown!r}, is not a layer the builder "
                           f"knows ({', '.join(LAYER_CLASSES)}): left out"[:300])
            continue
        cls = LAYER_CLASSES[kind]
        fields = dict(cls.builder_fields)
        form[f"l{kept}.type"] = kind
        for part in filter(None, (m.group(2) or "").split(",")):
            key, eq, value = part.partition("=")
            arg = ARGS_BY_KEY.get(key.strip())
            if not eq or arg not in fields:
                changes.append(f"layer {kept + 1} ({kind}): {unquote(part)[:30]!r} is not one of its "
                               f"arguments ({', '.join(f'{ARG_KEYS[a]}={a}' for a in fields)}): "
                               "left out")
                continue
            text = unquote(value)
            # Pairs are written 5x5; the builder's own fields read a factor pair as "lo, hi".
            form[f"l{kept}.{arg}"] = text.replace("x", ",") if fields[arg] == "factor" else text
        kept += 1
    state = builder.parse_form(form)
    return [repair_layer(i, layer, changes) for i, layer in enumerate(state.layers)]


def _origin(text: str, changes: list[str]) -> dict[str, str]:
    """`from`: the job this model is trained again from (its new job's name says what
    changed from it)."""
    if re.fullmatch(JOB_ID_PATTERN, text):
        return {"origin": text}
    if text:
        changes.append(f"from {text[:20]!r} is not a job id (12 hexadecimal digits): left out")
    return {}


def _settings(raw: dict[str, str], limits: Settings, catalog: DatasetCatalog,
              changes: list[str]) -> dict[str, str]:
    settings = dict(DEFAULT_SETTINGS)
    settings.update({k: v for k, v in raw.items() if k in SETTING_NAMES})
    settings.update(_origin(raw.get("from", ""), changes))
    ids = {d.id for d in catalog.list_datasets()}
    if settings["dataset"] not in ids:
        changes.append(f"there is no dataset {settings['dataset'][:40]!r} here: using mnist")
        settings["dataset"] = "mnist"
    if not re.fullmatch(MODEL_NAME_PATTERN, settings["name"]):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", settings["name"]).lstrip("_.-")[:64] or "model"
        changes.append(f"the name {settings['name'][:40]!r} is not a model name (letters, "
                       f"digits, _ . -): using {name!r}")
        settings["name"] = name
    if settings["optimizer"] not in OPTIMIZERS:
        changes.append(f"optimizer {settings['optimizer'][:20]!r} is not one of "
                       f"{', '.join(OPTIMIZERS)}: using adam")
        settings["optimizer"] = "adam"
    tops = {"epochs": (limits.max_epochs, "CNNPG_MAX_EPOCHS"),
            "train_samples": (limits.max_train_samples, "CNNPG_MAX_TRAIN_SAMPLES")}
    for name in ("learning_rate", "batch_size", "epochs", "validation_split", "train_samples",
                 "seed"):
        text = settings.get(name, "").strip()
        if not text:
            continue
        value = builder._value(text, builder.TRAINING_KINDS[name])
        fixed: Any
        try:
            TrainingSettings.model_validate({name: value})
            errors: list[ErrorDetails] = []
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        low, high = number_bounds(errors)
        if errors and (low is not None or high is not None) and isinstance(value, int | float):
            fixed = clamped(value, low, high)
            if name == "learning_rate" and fixed <= 0:
                fixed = float(TrainingSettings.model_fields[name].default)
        elif errors:
            default = TrainingSettings.model_fields[name].default
            fixed = DEFAULT_SETTINGS.get(name) or ("" if default is None else default)
        else:
            fixed = value
        if name in tops and isinstance(fixed, int) and fixed > tops[name][0]:
            fixed = tops[name][0]
            changes.append(f"{name.replace('_', ' ')} {text[:20]} is over the limit of "
                           f"{fixed} ({tops[name][1]}): using {fixed}")
        elif errors:
            changes.append(f"{name.replace('_', ' ')} {text[:20]!r} is not valid "
                           f"({errors[0]['msg']}): using {fixed if fixed != '' else 'none'}")
        settings[name] = str(fixed)
    return settings


def from_query(query: Sequence[tuple[str, str]], limits: Settings, catalog: DatasetCatalog,
               jobs: JobStore) -> tuple[BuilderState, list[str], str | None]:
    """The builder's state from its address: layers (`l`) and settings, or a job (`job`,
    "Train again"), or a dataset to fit a model to (`dataset` alone), or a preset; with the
    changes made to reach a valid one, and a note about where it came from."""
    changes: list[str] = []
    layers = [v for k, v in query if k == "l"]
    raw = {k: v for k, v in query if k != "l"}
    note = None
    if layers:
        for ignored in ("preset", "job"):
            if raw.get(ignored):
                changes.append(f"the link has its own layers (l): {ignored} {raw[ignored][:40]!r} "
                               "is not used")
        state = BuilderState(_layers(layers, limits, changes),
                             _settings(raw, limits, catalog, changes))
        return state, changes, note
    if raw.get("job"):
        try:
            row = jobs.get(raw["job"][:64], "query.job")
            model_name = str((row.architecture or {}).get("name") or row.name)
            state = BuilderState.from_job(row.dataset, model_name, row.architecture,
                                          row.training, origin=row.id)
            note = (f"The architecture and settings of job {row.id} ({row.name}), seed "
                    "included: change one thing and train, then compare the two.")
            return state, changes, note
        except NotFound as exc:
            changes.append(f"{exc.message}: starting from the book's MNIST model")
    elif raw.get("dataset") and not raw.get("preset"):
        chosen = {d.id: d for d in catalog.list_datasets()}.get(raw["dataset"])
        if chosen is not None:
            return builder.starting_state(chosen), changes, note
        changes.append(f"there is no dataset {raw['dataset'][:40]!r} here: starting from the "
                       "book's MNIST model")
    preset = raw.get("preset", "mnist_book")
    if get_preset(preset) is None:
        changes.append(f"there is no preset {preset[:40]!r}; the presets are "
                       f"{', '.join(p.name for p in PRESETS)}: using mnist_book")
        preset = "mnist_book"
    return BuilderState.from_preset(preset), changes, note
