"""A page's state as its link holds it, read back to the nearest valid state.

Every page with a state (the Kernel Lab, the Model Builder, Draw, Explain) writes it into
its address as it changes, so that a link reopens exactly what was on the screen. A link
can be wrong: typed by hand, cut short, made for a server with other limits, naming a model
or an upload that has since gone. It then opens with the nearest state that works, and
each change is said, rather than answering with an error page.

`LinkState` is that reading, once for every page: the query's fields are validated by the
page's own typed model, and each field it refuses is mended from pydantic's error itself
(`repaired`): a number past a bound becomes the bound, anything else its default (or the
value a page starts from), each change said in words. Then the page's `fix` makes the
fields work together and with this server (a layer the model does not have, a kernel
larger than its image).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)


def shown(value: Any) -> str:
    """A value as a change message quotes it: short, and text in quotes."""
    return repr(value)[:30] if not isinstance(value, str) else repr(value[:30])


def number_bounds(errors: Sequence[ErrorDetails]) -> tuple[float | None, float | None]:
    """The bounds pydantic's errors state for one field: (lowest, highest) allowed."""
    low = high = None
    for e in errors:
        ctx = e.get("ctx") or {}
        if "ge" in ctx:
            low = float(ctx["ge"])
        if "le" in ctx:
            high = float(ctx["le"])
        if "gt" in ctx and isinstance(ctx["gt"], int):
            low = float(ctx["gt"] + 1)
        if "lt" in ctx and isinstance(ctx["lt"], int):
            high = float(ctx["lt"] - 1)
    return low, high


def clamped(value: Any, low: float | None, high: float | None) -> Any:
    """A number (or each number of a list) moved into [low, high]."""
    if isinstance(value, list):
        return [clamped(v, low, high) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    out = value
    if low is not None and out < low:
        out = low
    if high is not None and out > high:
        out = high
    return int(out) if isinstance(value, int) else float(out)


def _refuses(model: type[BaseModel], data: dict[str, Any], name: str) -> bool:
    try:
        model.model_validate(data)
    except ValidationError as again:
        return any(e["loc"] and e["loc"][0] == name for e in again.errors())
    return False


def repaired(model: type[M], data: dict[str, Any], changes: list[str], *, where: str = "",
             labels: Mapping[str, str] | None = None, starter: Mapping[str, Any] | None = None,
             written: Any = repr) -> M:
    """`data` as `model`, mended field by field from pydantic's errors: a number past a bound
    becomes the bound; a value no bound mends goes back to the model's default (a required
    one to `starter`'s value); arguments that do not go together start afresh from
    `starter`. Each change is added to `changes`, prefixed with `where`."""
    labels, starter = labels or {}, starter or {}
    data = dict(data)
    prefix = f"{where}: " if where else ""
    for _ in range(len(model.model_fields) + 2):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        by_field: dict[str, list[ErrorDetails]] = {}
        for e in errors:
            by_field.setdefault(str(e["loc"][0]) if e["loc"] else "", []).append(e)
        for name, errs in by_field.items():
            if name == "":  # the fields do not go together
                changes.append(f"{prefix}{errs[0]['msg'].removeprefix('Value error, ')}: using "
                               "its starting values")
                data = {k: v for k, v in data.items() if k not in model.model_fields} | dict(starter)
                break
            _mend(model, data, name, errs, changes, prefix, labels.get(name, name), starter,
                  written)
    changes.append(f"{prefix}its values could not be repaired: using its starting values")
    return model.model_validate({k: v for k, v in data.items() if k not in model.model_fields}
                                | dict(starter))


def _mend(model: type[BaseModel], data: dict[str, Any], name: str, errs: list[ErrorDetails],
          changes: list[str], prefix: str, label: str, starter: Mapping[str, Any],
          written: Any) -> None:
    value = data.get(name)
    low, high = number_bounds(errs)
    fixed = clamped(value, low, high) if (low is not None or high is not None) else value
    if fixed != value and not _refuses(model, {**data, name: fixed}, name):
        data[name] = fixed
        changes.append(f"{prefix}{label} {shown(value)} is out of range: using {written(fixed)}")
        return
    info = model.model_fields.get(name)
    if value is None or info is None:
        data[name] = starter.get(name, 1)
        changes.append(f"{prefix}{label} is required: using {written(data[name])}")
    elif not info.is_required() and name not in starter:
        data.pop(name)
        default = info.default
        changes.append(f"{prefix}{label} {shown(value)} is not valid ({errs[0]['msg']}): using "
                       + ("its default" if default is None or default == "" else written(default)))
    else:
        data[name] = starter.get(name, None if info.is_required() else info.default)
        changes.append(f"{prefix}{label} {shown(value)} is not valid ({errs[0]['msg']}): using "
                       f"{written(data[name])}")


class LinkState(BaseModel):
    """A page's state as its link holds it. A page's model lists its fields (pydantic
    checks each); `list_fields` repeat in a query (the Kernel Lab's grid `k`, the
    Builder's layers `l`), the others are taken once (the last); `fix` makes a valid set of
    fields work together and with the server."""

    list_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def query_dict(cls, items: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """A query string's fields this state has: repeated ones as lists."""
        known = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        out: dict[str, Any] = {}
        for key, value in items:
            if key in cls.list_fields:
                out.setdefault(key, []).append(value)
            elif key in known:
                out[key] = value
        return out

    @classmethod
    def labels(cls) -> dict[str, str]:
        """How a change message names each field (its alias in the link, or its name)."""
        return {name: f.alias or name for name, f in cls.model_fields.items()}

    @classmethod
    def read(cls, items: Iterable[tuple[str, str]], context: Any = None) -> tuple[Self, list[str]]:
        """The nearest valid state to a link's query, and what was changed to reach it."""
        changes: list[str] = []
        data = cls.query_dict(items)
        cls.clean(data, context, changes)
        state = repaired(cls, data, changes, labels=cls.labels(), written=cls.written)
        return state.fix(context, changes), changes

    @classmethod
    def clean(cls, data: dict[str, Any], context: Any, changes: list[str]) -> None:
        """Before validation: what a page reads its own way (limits of this server, a grid)."""

    @staticmethod
    def written(value: Any) -> str:
        """A value as a change message says what it used instead."""
        return str(value)

    def fix(self, context: Any, changes: list[str]) -> Self:
        """After validation: the fields made to work together and with this server."""
        return self

    def query(self) -> list[tuple[str, str]]:
        """The state as a link's query pairs (fields at their default are left out)."""
        pairs: list[tuple[str, str]] = []
        for name, f in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None or value == f.default:
                continue
            key = f.alias or name
            values = value if isinstance(value, list) else [value]
            pairs += [(key, str(v).lower() if isinstance(v, bool) else str(v)) for v in values]
        return pairs
