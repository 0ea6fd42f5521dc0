"""A job's name that tells it apart from its siblings: the model's name, then what was
changed from where it started (a lesson's model, or the job it was trained again from):
"cifar_model_intro · lr 0.01 · 5 epochs", "mnist_book · +Dropout · layer 1 filters 64".

Both ends are a job's settings flattened into named fields, as Compare lists them
(app/training/comparison.py `settings_fields`); layers count from 1, as the Builder shows
them. The Model Builder names the jobs it submits so (`named_job_request`); a job submitted
through the API keeps the name its client gives.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.errors import NotFound
from app.networks.architecture import ArchitectureSpec
from app.training.builder import BuilderState, BuilderView, build_view, job_request
from app.training.comparison import settings_fields
from app.training.jobs import JobRequest, JobStore

MAX_NAME = 64  # JobRequest.name's limit
SEPARATOR = " · "
TRAINING_WORDS = {"learning_rate": "lr {}", "batch_size": "batch {}", "epochs": "{} epochs",
                  "optimizer": "{}", "validation_split": "val {}", "train_samples": "{} images",
                  "seed": "seed {}"}
# Layer arguments by the short word a name uses for them.
ARGUMENT_WORDS = {"kernel_size": "kernel", "pool_size": "pool", "activation": "",
                  "padding": "", "strides": "stride"}


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "×".join(_value(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"{value:,}"
    return "none" if value is None else str(value)


def _layers(fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Each layer's arguments (`architecture.layers.3.filters` → layers[3]["filters"])."""
    out: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        parts = key.split(".", 3)
        if len(parts) == 4 and parts[:2] == ["architecture", "layers"] and parts[2].isdigit():
            out.setdefault(int(parts[2]), {})[parts[3]] = value
    return [out[i] for i in sorted(out)]


def _argument_changes(i: int, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """One layer's changed arguments: "layer 1 filters 32, kernel 5×5"."""
    words = []
    for arg, value in new.items():
        if arg != "type" and old.get(arg) != value:
            word = ARGUMENT_WORDS.get(arg, arg)
            words.append(f"{word + ' ' if word else ''}{_value(value)}")
    return [f"layer {i + 1} {', '.join(words)}"] if words else []


def layer_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Layers added (+Dropout), removed (−Dense), and arguments changed (layer 1 filters 64)."""
    old, new = _layers(before), _layers(after)
    matcher = SequenceMatcher(a=[x.get("type") for x in old], b=[x.get("type") for x in new],
                              autojunk=False)
    words: list[str] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            for k in range(a1 - a0):
                words += _argument_changes(b0 + k, old[a0 + k], new[b0 + k])
            continue
        words += [f"+{new[j].get('type')}" for j in range(b0, b1)]
        words += [f"−{old[j].get('type')}" for j in range(a0, a1)]
    return words


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs from `before` to `after`, each in a few words: the dataset, the
    training settings, then the layers."""
    words = [str(after["dataset"])] if after.get("dataset") != before.get("dataset") else []
    for key, template in TRAINING_WORDS.items():
        value, was = after.get(f"training.{key}"), before.get(f"training.{key}")
        if value == was or value is None or (key == "seed" and was is None):
            continue  # a seed where it was random (a lesson's model) is not a change
        words.append("1 epoch" if key == "epochs" and value == 1 else template.format(_value(value)))
    return words + layer_changes(before, after)


def job_name(model_name: str, before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """The model's name, then what was changed since `before` (none: the name alone), as
    much as fits in a job's name; "…" says that more changed."""
    name = model_name[:MAX_NAME]
    words = changes(before, after) if before is not None else []
    for n, word in enumerate(words):
        more = SEPARATOR + "…" if n < len(words) - 1 else ""
        if len(name) + len(SEPARATOR) + len(word) + len(more) > MAX_NAME:
            return name + SEPARATOR + "…" if len(name) + 4 <= MAX_NAME else name
        name += SEPARATOR + word
    return name


def _fields(req: JobRequest) -> dict[str, Any]:
    spec = req.architecture
    arch = spec.model_dump(mode="json", exclude_none=True) if isinstance(spec, ArchitectureSpec) else {}
    return settings_fields(req.dataset, req.training.model_dump(), arch)


def starting_point(view: BuilderView, limits: Settings, catalog: DatasetCatalog,
                   jobs: JobStore) -> dict[str, Any] | None:
    """Where the Builder's model started, as settings fields: the lesson's model of its name
    (as the Builder loads it), else the job it is trained again from; None for a model of
    one's own."""
    preset = view.preset
    if preset is not None:
        fresh = build_view(BuilderState.from_preset(preset.name), limits, catalog)
        return _fields(job_request(fresh))
    origin = view.settings.get("origin", "")
    if not origin:
        return None
    try:
        row = jobs.get(origin)
    except NotFound:  # deleted since: the model's name alone
        return None
    return settings_fields(row.dataset, row.training, row.architecture)


def named_job_request(view: BuilderView, limits: Settings, catalog: DatasetCatalog,
                      jobs: JobStore) -> JobRequest:
    """The Builder's job, named so that it can be told apart from its siblings."""
    req = job_request(view)
    name = job_name(view.spec["name"], starting_point(view, limits, catalog, jobs), _fields(req))
    return req.model_copy(update={"name": name})
