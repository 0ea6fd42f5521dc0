"""Jobs side by side: which settings differ, field by field, architecture layers included.

Each job's settings are flattened into named fields (`dataset`, `training.learning_rate`,
`architecture.layers.2.filters`, …), each layer with Keras' defaults filled in and its
sizes as pairs, so that `kernel_size: 3` and `kernel_size: [3, 3]` are the same setting.
Names (the job's, the model's, a layer's) are labels, not settings, and are not compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.errors import InvalidInput, LimitExceeded
from app.networks.layers import LAYER_CLASSES
from app.storage.tables import JobRow
from app.training.jobs import JOB_ID_PATTERN

JOB_ID = re.compile(JOB_ID_PATTERN)


@dataclass(frozen=True)
class Difference:
    field: str
    values: list[Any]


def parse_job_ids(value: str, limit: int, field: str = "query.jobs") -> list[str]:
    """`a,b,c` → ids: at least two, at most `limit`, each once."""
    ids = [part.strip() for part in value.split(",") if part.strip()]
    for job_id in ids:
        if not JOB_ID.match(job_id):
            raise InvalidInput(field, f"{job_id[:40]!r} is not a job id (12 hexadecimal digits)")
    repeated = sorted({j for j in ids if ids.count(j) > 1})
    if repeated:
        raise InvalidInput(field, f"job {repeated[0]} is listed twice")
    if len(ids) < 2:
        raise InvalidInput(field, f"name at least two jobs to compare, separated by commas "
                           f"(got {len(ids)})")
    if len(ids) > limit:
        raise LimitExceeded(field, f"{len(ids)} jobs is over the limit of {limit} "
                            "(CNNPG_MAX_COMPARE_JOBS)")
    return ids


def repair_ids(ids: list[str], limit: int, exists: Callable[[str], bool]
               ) -> tuple[list[str], list[str]]:
    """The jobs a Compare link can show (ids of jobs that exist, each once, at most `limit`),
    and what was left out and why: a link opens the nearest comparison it can."""
    changes: list[str] = []
    kept: list[str] = []
    seen: set[str] = set()
    for job_id in ids[:4 * limit]:
        if not JOB_ID.match(job_id):
            changes.append(f"{job_id[:40]!r} is not a job id (12 hexadecimal digits): left out")
        elif job_id in seen:
            changes.append(f"job {job_id} was listed twice: once is enough")
        elif not exists(job_id):
            changes.append(f"there is no job {job_id} here: left out")
        else:
            kept.append(job_id)
        seen.add(job_id)
    if len(ids) > 4 * limit:
        changes.append(f"the link names {len(ids)} jobs: only the first {4 * limit} were read")
    if len(kept) > limit:
        changes.append(f"{len(kept)} jobs is over the limit of {limit} (CNNPG_MAX_COMPARE_JOBS): "
                       f"comparing the first {limit}")
        kept = kept[:limit]
    if changes and len(kept) < 2:
        changes.append("a comparison needs two jobs or more: add one below")
    return kept, changes


def _layer_fields(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer's arguments with Keras' defaults filled in, sizes as [height, width]."""
    cls = LAYER_CLASSES.get(str(layer.get("type")))
    if cls is not None:
        try:
            return cls.model_validate(layer).canonical()
        except ValidationError:
            pass
    return {k: v for k, v in layer.items() if k != "name"}


def settings_fields(dataset: str, training: dict[str, Any] | None,
                    architecture: dict[str, Any] | None) -> dict[str, Any]:
    """A job's settings as flat, named fields, in the order a page lists them."""
    fields: dict[str, Any] = {"dataset": dataset}
    for key, value in (training or {}).items():
        fields[f"training.{key}"] = value
    arch = architecture or {}
    fields["architecture.input_shape"] = list(arch.get("input_shape", []))
    for i, layer in enumerate(arch.get("layers", [])):
        for key, value in _layer_fields(layer).items():
            fields[f"architecture.layers.{i}.{key}"] = value
    return fields


def side_by_side(rows: list[JobRow]) -> list[Difference]:
    """Every field of these jobs with its value in each (null where a job lacks it, say a
    layer a shorter model does not have)."""
    flat = [settings_fields(r.dataset, r.training, r.architecture) for r in rows]
    names: dict[str, None] = {}
    for f in flat:
        names.update(dict.fromkeys(f))
    return [Difference(name, [f.get(name) for f in flat]) for name in names]


def differs(d: Difference) -> bool:
    return any(v != d.values[0] for v in d.values[1:])


def differences(rows: list[JobRow]) -> list[Difference]:
    """Exactly the fields whose values are not all the same."""
    return [d for d in side_by_side(rows) if differs(d)]
