"""A model to take away: its model card, and its files in the formats other tools run.

- `keras`: the registry's `.keras` file, as it is.
- `tflite`: the LiteRT (TensorFlow Lite) flatbuffer that single predictions here already
  run on (the same conversion, `litert.tflite_flatbuffer`), for phones and
  microcontrollers.
- `savedmodel`: a `.zip` of a TensorFlow Serving model directory, `<id>/1/saved_model.pb`
  and `<id>/1/variables/`, with the model card beside the version (`<id>/model_card.json`
  and `<id>/MODEL_CARD.md`); unzip it into TF Serving's model base path.

Converting takes a second or two of CPU, so one conversion runs at a time and the last few
results are kept.
"""

from __future__ import annotations

import io
import json
import tempfile
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.datasets.catalog import DatasetCatalog
from app.errors import InvalidInput, Unavailable
from app.networks.architecture import ArchitectureSpec, check
from app.networks.explain.graph import Graph
from app.networks.inference import LoadedModels
from app.networks.ranges import range_label
from app.networks.registry import ModelInfo, Registry

Format = Literal["keras", "tflite", "savedmodel"]
KEPT = 4  # converted files kept in memory
TRAINING_KEYS = ("optimizer", "learning_rate", "batch_size", "epochs", "validation_split",
                 "train_samples", "seed")


def model_card(info: ModelInfo, dataset_label: str | None = None) -> dict[str, Any]:
    """What a model is and how it was made: architecture, data, settings, results."""
    meta = info.meta
    training = dict(meta.get("training") or {})
    architecture = meta.get("architecture")
    layers: list[dict[str, Any]] = []
    total = meta.get("total_params")
    if architecture:
        summary = check(ArchitectureSpec.model_validate(architecture), max_layers=10_000,
                        max_params=10**12)
        layers = [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                   "params": r.params} for r in summary.layers]
        total = summary.total_params
    per_class = training.pop("per_class_accuracy", None)
    training.pop("history", None)
    training.pop("input_range", None)  # an upload's: said below, not a training setting
    seconds = training.pop("seconds", None)
    return {
        "id": info.id, "name": info.name, "created": info.created, "shipped": info.shipped,
        "dataset": {"id": info.dataset, "label": dataset_label or info.dataset,
                    "classes": list(info.class_names)},
        "input_shape": list(info.input_shape),
        "input_range": info.input_range, "input_range_label": range_label(info.input_range),
        "architecture": architecture, "layers": layers, "total_params": total,
        "training": training, "seed": training.get("seed"), "training_seconds": seconds,
        "test_accuracy": info.test_accuracy, "test_loss": meta.get("test_loss"),
        "per_class_accuracy": (dict(zip(info.class_names, per_class, strict=False))
                               if per_class else None),
        "job_id": meta.get("job_id"), "sha256": meta.get("sha256"),
    }


def file_layers(model: Any, input_shape: tuple[int, int, int], model_id: str
                ) -> list[dict[str, Any]]:
    """A loaded model's layers (and operations), read from the model itself as
    `model.summary()` lists them: name, type, output shape, parameters (every weight,
    trainable or not, as Keras counts them). For a model whose file recorded no
    architecture spec: one uploaded from anywhere."""
    graph = Graph(model, input_shape, model_id)
    return [{"name": n.name, "type": n.type, "output_shape": [None, *n.shape],
             "params": int(sum(w.size for w in graph.weights[n.index]))}
            for n in graph.nodes[1:]]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.2f}%"


def card_markdown(card: dict[str, Any]) -> str:
    """The model card for people, as Markdown."""
    data = card["dataset"]
    lines = [f"# {card['name']} (`{card['id']}`)", "",
             (f"- Dataset: {data['label']} ({data['id']}), classes: " if data["id"] else
              "- Classes: ") + ", ".join(data["classes"]),
             f"- Input: {' × '.join(str(d) for d in card['input_shape'])}, pixels in "
             f"{card['input_range_label']}",
             f"- Parameters: {card['total_params']:,}" if card["total_params"] else "- Parameters: —",
             f"- Test accuracy: {_pct(card['test_accuracy'])}",
             f"- Trained: {card['created']}"
             + (f" in {card['training_seconds']} s" if card["training_seconds"] else ""),
             f"- Seed: {card['seed'] if card['seed'] is not None else '—'}", "",
             "## Training settings", ""]
    lines += [f"- {k}: {v}" for k, v in card["training"].items()]
    if card["layers"]:
        lines += ["", "## Architecture", "", "| layer | type | output shape | parameters |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {r['name']} | {r['type']} | {tuple(r['output_shape'])} | {r['params']:,} |"
                  for r in card["layers"]]
    if card["per_class_accuracy"]:
        lines += ["", "## Test accuracy per class", "", "| class | accuracy |", "| --- | --- |"]
        lines += [f"| {c} | {_pct(a)} |" for c, a in card["per_class_accuracy"].items()]
    return "\n".join(lines) + "\n"


def saved_model_zip(model: Any, name: str, card: dict[str, Any]) -> bytes:
    """A TensorFlow Serving model directory, zipped: `<name>/1/saved_model.pb`,
    `<name>/1/variables/`, and the model card beside the version."""
    with tempfile.TemporaryDirectory() as tmp:
        version = Path(tmp) / name / "1"
        model.export(str(version), format="tf_saved_model", verbose=False)
        (version.parent / "model_card.json").write_text(json.dumps(card, indent=2))
        (version.parent / "MODEL_CARD.md").write_text(card_markdown(card))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(Path(tmp).rglob("*")):
                zf.write(path, path.relative_to(tmp).as_posix())
        return buf.getvalue()


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes | None = None
    path: Path | None = None


class Exports:
    """Downloads of a registered model in each format."""

    def __init__(self, registry: Registry, models: LoadedModels, datasets: DatasetCatalog) -> None:
        self.registry = registry
        self.models = models
        self.datasets = datasets
        self._lock = threading.Lock()
        self._kept: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()

    def dataset_label(self, dataset_id: str) -> str:
        try:
            return self.datasets.get(dataset_id).label
        except InvalidInput:  # a dataset no longer there
            return dataset_id

    def card(self, info: ModelInfo) -> dict[str, Any]:
        """The model card; for a model that recorded no architecture (an upload), the
        layers read from its file."""
        card = model_card(info, self.dataset_label(info.dataset) if info.dataset else "")
        if not card["layers"]:
            try:
                loaded = self.models.get(info.id)
            except Unavailable:  # a file that cannot be loaded: the card says what it can
                return card
            card["layers"] = file_layers(loaded.model, info.input_shape, info.id)
            card["total_params"] = sum(r["params"] for r in card["layers"])
        return card

    def download(self, model_id: str, fmt: Format, field: str = "model_id") -> Download:
        info = self.registry.get(model_id, field)
        if fmt == "keras":
            return Download(f"{info.id}.keras", "application/octet-stream",
                            path=self.registry.path(info.id))
        key = (info.id, str(info.meta.get("sha256", "")), fmt)
        with self._lock:
            content = self._kept.get(key)
            if content is None:
                content = self._convert(info, fmt, field)
                self._kept[key] = content
                while len(self._kept) > KEPT:
                    self._kept.popitem(last=False)
            else:
                self._kept.move_to_end(key)
        if fmt == "tflite":
            return Download(f"{info.id}.tflite", "application/octet-stream", content)
        return Download(f"{info.id}-savedmodel.zip", "application/zip", content)

    def _convert(self, info: ModelInfo, fmt: Format, field: str) -> bytes:
        loaded = self.models.get(info.id, field)
        if fmt == "tflite":
            if loaded.tflite is None:
                raise Unavailable(f"model {info.id} could not be converted to LiteRT here; "
                                  "download the .keras file instead")
            return loaded.tflite
        return saved_model_zip(loaded.model, info.id, self.card(info))
