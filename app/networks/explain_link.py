"""The Explain page's state as a link, read back to the nearest valid state.

The page writes its whole state into its address as it changes (static/js/explain.js):
the model, the input (`source` with `px`, the input exactly as the network saw it, or a
test image by `class` and `index`), the open neuron (`layer`, `channel`, `cell`) and the
saliency (`method`, `target`). A link can name a model that is gone, a layer it does not
have, a channel or cell outside the layer, a test image past the end: it then opens with
the nearest state that works, and each change is said, rather than a page of errors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput
from app.networks import draw_view, explain, explain_view
from app.networks.inference import LoadedModels
from app.networks.registry import DEFAULT_MODEL, ModelInfo, Registry

SOURCES = ("draw", "upload", "test", "pixels")
FIELDS = ("model", "source", "px", "class", "index", "layer", "channel", "cell", "method",
          "target")


def _whole(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\s*\d{1,9}\s*", text or "") else None


def repair(query: Mapping[str, str], registry: Registry, models: LoadedModels,
           datasets: DatasetCatalog) -> tuple[dict[str, str], ModelInfo, list[str]]:
    """The nearest valid state to a link's query (the fields the page reads), its model, and
    what was changed."""
    q = {k: query[k] for k in FIELDS if query.get(k)}
    changes: list[str] = []
    wanted = q.get("model", DEFAULT_MODEL)
    info, change = registry.get_or_shipped(wanted)
    if change:
        changes.append(change)
    q["model"] = info.id
    draws = info.input_shape == (28, 28, 1)
    source = q.get("source", "draw" if draws else "upload")
    if source not in SOURCES or (source == "draw" and not draws):
        fallback = "draw" if draws else "upload"
        changes.append(f"source {source[:20]!r} is not one of "
                       f"{', '.join(s for s in SOURCES if draws or s != 'draw')}: using {fallback}")
        source = fallback
    if source == "test":
        source = _test(q, info, datasets, changes)
    else:
        q.pop("class", None)
        q.pop("index", None)
    q["source"] = source
    if "px" in q and source != "test":
        try:
            explain_view.decode_px(q["px"], info.input_shape)
        except InvalidInput as exc:
            changes.append(f"the input in the link (px) {exc.message}: left out")
            q.pop("px")
    elif source == "test":
        q.pop("px", None)
    _neuron(q, info, models, changes)
    method = q.get("method", "gradcam")
    if method not in ("gradcam", "gradient"):
        changes.append(f"method {method[:20]!r} is not gradcam or gradient: using gradcam")
        q.pop("method")
    if "target" in q:
        target = _whole(q["target"])
        if target is None or target >= len(info.class_names):
            changes.append(f"class {q['target'][:20]!r} is not one of {info.id}'s "
                           f"{len(info.class_names)} classes: Grad-CAM for the predicted one")
            q.pop("target")
        else:
            q["target"] = str(target)
    return q, info, changes


def _test(q: dict[str, str], info: ModelInfo, datasets: DatasetCatalog,
          changes: list[str]) -> str:
    """A test image: its class and index made valid; "upload" or "draw" when there are none."""
    try:
        count = draw_view.test_count(info, datasets)
    except InvalidInput as exc:
        changes.append(f"no test image: {exc.message}")
        q.pop("class", None)
        q.pop("index", None)
        return "draw" if info.input_shape == (28, 28, 1) else "upload"
    if "class" in q:
        cls = _whole(q["class"])
        if cls is None or cls >= len(info.class_names):
            changes.append(f"class {q['class'][:20]!r} is not one of {info.id}'s "
                           f"{len(info.class_names)} classes: using {info.class_names[0]}")
            cls = 0
        q["class"] = str(cls)
    if "index" in q:
        index = _whole(q["index"])
        if index is None:
            changes.append(f"test image {q['index'][:20]!r} is not a whole number: the first of "
                           "its class")
            q.pop("index")
        elif index >= count:
            changes.append(f"test image {index} is not there ({info.dataset} has {count:,} "
                           f"here): using the last one, {count - 1}")
            q["index"] = str(count - 1)
        else:
            q["index"] = str(index)
    return "test"


def _neuron(q: dict[str, str], info: ModelInfo, models: LoadedModels,
            changes: list[str]) -> None:
    """The open neuron: a layer the model has, a channel and (for maps) a cell inside it."""
    if "layer" not in q:
        for k in ("channel", "cell"):
            if k in q:
                changes.append(f"{k} {q.pop(k)[:20]!r} without a layer: left out")
        return
    ex = explain.explainer(models.get(info.id))
    node = ex.by_name.get(q["layer"])
    if node is None:
        changes.append(f"{info.id} has no layer {q['layer'][:40]!r} (its layers: "
                       f"{', '.join(n.name for n in ex.nodes)}): no neuron is open"[:400])
        for k in ("layer", "channel", "cell"):
            q.pop(k, None)
        return
    channels = node.shape[-1]
    channel = _whole(q.get("channel", "0"))
    if channel is None or channel >= channels:
        near = 0 if channel is None else channels - 1
        changes.append(f"{node.name} has {channels} {'channels' if node.spatial else 'units'} "
                       f"(0 to {channels - 1}), not {q.get('channel', '')[:20]!r}: using {near}")
        channel = near
    q["channel"] = str(channel)
    if "cell" not in q:
        return
    m = re.fullmatch(r"\s*(\d{1,6})\s*,\s*(\d{1,6})\s*", q["cell"])
    if not node.spatial:
        changes.append(f"{node.name} outputs a vector: the cell {q.pop('cell')[:20]!r} is left out")
    elif m is None:
        changes.append(f"cell {q.pop('cell')[:20]!r} is not row,column: no cell is picked")
    else:
        r, c = int(m.group(1)), int(m.group(2))
        rr, cc = min(r, node.shape[0] - 1), min(c, node.shape[1] - 1)
        if (rr, cc) != (r, c):
            changes.append(f"cell ({r}, {c}) is outside {node.name}'s {node.shape[0]}×"
                           f"{node.shape[1]} map: picked ({rr}, {cc}), the nearest")
        q["cell"] = f"{rr},{cc}"
