"""The Model Builder and Jobs pages (HTML; htmx partials)."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app import jobs, ownership, queue
from app.architecture import ArchitectureSpec, check
from app.datasets import CLASS_NAMES, INPUT_SHAPES
from app.errors import InvalidInput
from app.presets import PRESETS, get_preset
from app.web import give_token, owner_token, presented_token, settings_of, templates

router = APIRouter(include_in_schema=False)

ACTIVATIONS = ["relu", "softmax", "sigmoid", "tanh", "linear", "elu", "gelu", "swish"]
# What the page lets a learner edit for each layer type: (argument, kind).
LAYER_FIELDS: dict[str, list[tuple[str, str]]] = {
    "Conv2D": [("filters", "int"), ("kernel_size", "pair"), ("strides", "pair"),
               ("padding", "padding"), ("activation", "activation")],
    "MaxPooling2D": [("pool_size", "pair"), ("strides", "pair?"), ("padding", "padding")],
    "AveragePooling2D": [("pool_size", "pair"), ("strides", "pair?"), ("padding", "padding")],
    "Dropout": [("rate", "float")],
    "Flatten": [],
    "Dense": [("units", "int"), ("activation", "activation")],
    "BatchNormalization": [],
    "GlobalAveragePooling2D": [],
}
NEW_LAYER: dict[str, dict[str, Any]] = {
    "Conv2D": {"filters": 16, "kernel_size": [3, 3], "activation": "relu"},
    "MaxPooling2D": {"pool_size": [2, 2]}, "AveragePooling2D": {"pool_size": [2, 2]},
    "Dropout": {"rate": 0.25}, "Flatten": {}, "Dense": {"units": 10, "activation": "softmax"},
    "BatchNormalization": {}, "GlobalAveragePooling2D": {},
}
DEFAULT_TRAINING = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 64, "epochs": 1,
                    "validation_split": 0.1, "train_samples": 5000}


def _value(raw: str, kind: str) -> Any:
    raw = raw.strip()
    if raw == "":
        return None  # omitted: Keras' default applies, or validation says it is required
    if kind in ("pair", "pair?"):
        parts = [p for p in re.split(r"[\s,x×]+", raw) if p]
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            return raw  # left for validation to name
        return nums[0] if len(nums) == 1 else nums
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            return raw
    if kind == "activation":
        return raw or None
    return raw


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def parse_form(form) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Layers and settings from the builder's fields (l0.type, l0.filters, …)."""
    indices = sorted({int(m.group(1)) for k in form if (m := re.match(r"l(\d+)\.type$", k))})
    layers = []
    for i in indices:
        t = form.get(f"l{i}.type", "")
        layer: dict[str, Any] = {"type": t}
        for arg, kind in LAYER_FIELDS.get(t, []):
            v = _value(str(form.get(f"l{i}.{arg}", "")), kind)
            if v is not None:
                layer[arg] = v
        layers.append(layer)
    settings = {k: str(form.get(k, "")) for k in ("dataset", "name", "optimizer", "learning_rate",
                                                   "batch_size", "epochs", "validation_split",
                                                   "train_samples")}
    return layers, settings


def apply_action(action: str, layers: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    verb, _, arg = action.partition(":")
    if verb == "add" and arg in NEW_LAYER:
        layers.append({"type": arg, **NEW_LAYER[arg]})
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
        settings.update({"dataset": preset.dataset, "name": preset.name,
                         **{k: str(v) for k, v in preset.training.items()}})
        settings.setdefault("train_samples", str(DEFAULT_TRAINING["train_samples"]))
    elif verb == "empty":
        layers.clear()


def builder_view(layers: list[dict[str, Any]], settings: dict[str, Any], request: Request,
                 action: str = "") -> dict[str, Any]:
    """Everything the builder partial shows: the layers, their summary rows and errors."""
    dataset = settings.get("dataset") or "mnist"
    if dataset not in INPUT_SHAPES:
        dataset = "mnist"
    settings["dataset"] = dataset
    spec_dict = {"name": re.sub(r"[^A-Za-z0-9_.-]", "_", settings.get("name") or "model")[:64]
                 or "model", "input_shape": list(INPUT_SHAPES[dataset]), "layers": layers}
    layer_errors: dict[int, list[str]] = {}
    general: list[str] = []
    rows: list[dict[str, Any] | None] = [None] * len(layers)
    summary = None
    if not layers:
        general.append("Add a layer, or start from a preset.")
    else:
        try:
            spec = ArchitectureSpec.model_validate(spec_dict)
            cfg = settings_of(request)
            summary = check(spec, cfg.max_layers, cfg.max_params)
            jobs.check_fits_dataset(spec, summary, dataset)
        except ValidationError as exc:
            seen: set[tuple] = set()
            for e in exc.errors(include_url=False):
                loc = e["loc"]
                if len(loc) >= 2 and loc[0] == "layers" and isinstance(loc[1], int):
                    # (layers, i, Type, arg, union-branch…): one message per argument
                    arg = str(loc[3]) if len(loc) > 3 else ""
                    if (loc[1], arg) in seen:
                        continue
                    seen.add((loc[1], arg))
                    layer_errors.setdefault(loc[1], []).append(
                        f"{arg}: {e['msg']}" if arg else e["msg"])
                else:
                    general.append(f"{'.'.join(map(str, loc))}: {e['msg']}")
        except InvalidInput as exc:
            m = re.match(r"(?:architecture\.)?layers\.(\d+)$", exc.field)
            if m:
                layer_errors.setdefault(int(m.group(1)), []).append(exc.message)
            else:
                general.append(exc.message)
    channels = INPUT_SHAPES[dataset][2]
    if summary is not None:
        for i, (layer, row) in enumerate(zip(layers, summary.layers, strict=True)):
            formula = ""
            if layer["type"] == "Conv2D":
                k = layer["kernel_size"]
                kh, kw = (k, k) if isinstance(k, int) else k
                formula = (f"(({kh}·{kw}·{channels}) + 1) · {layer['filters']} = {row.params:,}")
            rows[i] = {"name": row.name, "shape": row.output_shape, "params": row.params,
                       "formula": formula}
            channels = row.output_shape[-1]
    return {
        "layers": [{"type": layer["type"], "fields": [(arg, kind, _display(layer.get(arg)))
                                                      for arg, kind in LAYER_FIELDS.get(layer["type"], [])]}
                   for layer in layers],
        "rows": rows, "summary": summary, "layer_errors": layer_errors, "general": general,
        "settings": settings, "spec": spec_dict, "presets": PRESETS, "layer_types": list(NEW_LAYER),
        "activations": ACTIVATIONS, "datasets": list(CLASS_NAMES), "valid": summary is not None
        and not layer_errors and not general,
    }


@router.get("/builder", response_class=HTMLResponse)
def builder_page(request: Request, preset: str = "mnist_book") -> Response:
    layers: list[dict[str, Any]] = []
    settings: dict[str, Any] = {k: str(v) for k, v in DEFAULT_TRAINING.items()}
    apply_action(f"preset:{preset}" if get_preset(preset) else "preset:mnist_book", layers,
                 settings)
    ctx = builder_view(layers, settings, request)
    return templates.TemplateResponse(request, "builder.html", {"active": "builder", **ctx})


@router.post("/builder/render", response_class=HTMLResponse)
async def builder_render(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=2000)
    layers, settings = parse_form(form)
    mode = request.query_params.get("mode", "structure")
    if mode == "structure":
        action = str(form.get("action", ""))
        if action == "preset-from-select":
            action = f"preset:{form.get('preset_choice', '')}"
        elif action == "add-from-select":
            action = f"add:{form.get('add_type', '')}"
        apply_action(action, layers, settings)
    ctx = builder_view(layers, settings, request)
    return templates.TemplateResponse(request, "partials/builder_form.html", {**ctx, "mode": mode})


@router.post("/builder/train", response_class=HTMLResponse)
async def builder_train(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=2000)
    layers, settings = parse_form(form)
    ctx = builder_view(layers, settings, request)
    if not ctx["valid"]:
        return templates.TemplateResponse(request, "partials/builder_form.html", ctx,
                                          status_code=422)
    training = {k: settings[k] for k in ("optimizer", "learning_rate", "batch_size", "epochs",
                                         "validation_split", "train_samples") if settings.get(k)}
    try:
        req = jobs.JobRequest.model_validate({"architecture": ctx["spec"],
                                              "dataset": settings["dataset"],
                                              "training": training,
                                              "name": ctx["spec"]["name"]})
        token, _ = owner_token(request)
        row = jobs.create(req, settings_of(request), ownership.owner_hash(token))
    except ValidationError as exc:
        ctx["general"] = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                          for e in exc.errors(include_url=False)]
        return templates.TemplateResponse(request, "partials/builder_form.html", ctx,
                                          status_code=422)
    except InvalidInput as exc:
        ctx["general"] = [str(exc)]
        return templates.TemplateResponse(request, "partials/builder_form.html", ctx,
                                          status_code=getattr(exc, "status_code", 422))
    queue.enqueue(row.id)
    return give_token(Response(status_code=204, headers={"HX-Redirect": f"/jobs/{row.id}"}), token)


# ---------------------------------------------------------------- jobs pages

@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request) -> Response:
    rows = jobs.list_jobs(settings_of(request))
    return templates.TemplateResponse(request, "jobs.html", {"active": "jobs", "jobs": rows})


@router.get("/jobs/rows", response_class=HTMLResponse)
def jobs_rows(request: Request) -> Response:
    rows = jobs.list_jobs(settings_of(request))
    return templates.TemplateResponse(request, "partials/job_rows.html", {"jobs": rows})


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request) -> Response:
    row = jobs.get(settings_of(request), job_id)
    return templates.TemplateResponse(request, "job.html", {
        "active": "jobs", "job": row, "classes": CLASS_NAMES[row.dataset],
        "yours": jobs.is_yours(row, presented_token(request))})


@router.get("/jobs/{job_id}/panel", response_class=HTMLResponse)
def job_panel(job_id: str, request: Request) -> Response:
    row = jobs.get(settings_of(request), job_id)
    return templates.TemplateResponse(request, "partials/job_panel.html", {
        "job": row, "classes": CLASS_NAMES[row.dataset],
        "yours": jobs.is_yours(row, presented_token(request))})


@router.post("/jobs/{job_id}/cancel", response_class=HTMLResponse)
def job_cancel(job_id: str, request: Request) -> Response:
    """The job page's cancel button; refusals (403) come back as a message."""
    try:
        row = jobs.request_cancel(settings_of(request), job_id, presented_token(request))
    except jobs.JobFinished as exc:
        return HTMLResponse(f'<p class="notice">{escape(str(exc))}</p>', status_code=409)
    text = ("Cancelled." if row.status == "cancelled"
            else "Cancelling: the worker stops within a second or two.")
    return HTMLResponse(f'<p class="notice">{text}</p>')
