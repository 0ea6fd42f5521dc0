"""The Explain page's state as a link (app/links.py), read back to the nearest valid state.

The page writes its whole state into its address as it changes (static/js/explain.js):
the model, the input (`source` with `px`, the input exactly as the network saw it, or a
test image by `class` and `index`), the open neuron (`layer`, `channel`, `cell`) and the
saliency (`method`, `target`). A link can name a model that is gone, a layer it does not
have, a channel or cell outside the layer, a test image past the end: it then opens with
the nearest state that works, and each change is said.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, PrivateAttr

from app.errors import InvalidInput
from app.links import LinkState
from app.networks import explain
from app.networks.inference import LoadedModels
from app.networks.inputs import ModelInputs, decode_px, drawable
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry

Index = Annotated[int, Field(ge=0, le=1_000_000_000)]
LAYER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$"


@dataclass
class ExplainContext:
    registry: Registry
    models: LoadedModels
    inputs: ModelInputs


class ExplainLink(LinkState):
    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(DEFAULT_MODEL, pattern=MODEL_ID_PATTERN, max_length=64)
    source: Literal["draw", "upload", "test", "pixels"] | None = None
    px: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]*$", max_length=2_000_000)
    cls: Index | None = Field(None, alias="class")
    index: Index | None = None
    layer: str | None = Field(None, pattern=LAYER_PATTERN)
    channel: Index | None = None
    cell: str | None = Field(None, pattern=r"^\s*\d{1,6}\s*,\s*\d{1,6}\s*$")
    method: Literal["gradcam", "gradient"] = "gradcam"
    target: Index | None = None

    _info: ModelInfo | None = PrivateAttr(None)

    @property
    def info(self) -> ModelInfo:
        assert self._info is not None, "read the link first"
        return self._info

    def fix(self, context: ExplainContext, changes: list[str]) -> Self:
        info, change = context.registry.get_or_shipped(self.model)
        if change:
            changes.append(change)
        state = self.model_copy(update={"model": info.id})
        state._info = info
        state._source(context.inputs, changes)
        state._neuron(context.models, changes)
        if state.target is not None and state.target >= len(info.class_names):
            changes.append(f"class '{state.target}' is not one of {info.id}'s "
                           f"{len(info.class_names)} classes: Grad-CAM for the predicted one")
            state.target = None
        return state

    def _source(self, inputs: ModelInputs, changes: list[str]) -> None:
        info = self.info
        draws = drawable(info)
        fallback: Literal["draw", "upload"] = "draw" if draws else "upload"
        if self.source is None:
            self.source = fallback
        elif self.source == "draw" and not draws:
            changes.append(f"source 'draw' is not one of upload, test, pixels: using {fallback}")
            self.source = fallback
        if self.source == "test":
            self._test(inputs, changes)
        else:
            self.cls = self.index = None
        if self.px and self.source != "test":
            try:
                decode_px(self.px, info.input_shape)
            except InvalidInput as exc:
                changes.append(f"the input in the link (px) {exc.message}: left out")
                self.px = None
        elif self.source == "test":
            self.px = None

    def _test(self, inputs: ModelInputs, changes: list[str]) -> None:
        """A test image: its class and index made valid; "upload" or "draw" when there are none."""
        info = self.info
        try:
            count = inputs.test_count(info)
        except InvalidInput as exc:
            changes.append(f"no test image: {exc.message}")
            self.cls = self.index = None
            self.source = "draw" if drawable(info) else "upload"
            return
        if self.cls is not None and self.cls >= len(info.class_names):
            changes.append(f"class '{self.cls}' is not one of {info.id}'s "
                           f"{len(info.class_names)} classes: using {info.class_names[0]}")
            self.cls = 0
        if self.index is not None and self.index >= count:
            changes.append(f"test image {self.index} is not there ({info.dataset} has "
                           f"{count:,} here): using the last one, {count - 1}")
            self.index = count - 1

    def _neuron(self, models: LoadedModels, changes: list[str]) -> None:
        """The open neuron: a layer the model has, a channel and (for maps) a cell inside it."""
        if self.layer is None:
            for name in ("channel", "cell"):
                if getattr(self, name) is not None:
                    changes.append(f"{name} {str(getattr(self, name))[:20]!r} without a layer: "
                                   "left out")
                    setattr(self, name, None)
            return
        ex = explain.explainer(models.get(self.info.id))
        node = ex.by_name.get(self.layer)
        if node is None:
            changes.append(f"{self.info.id} has no layer {self.layer[:40]!r} (its layers: "
                           f"{', '.join(n.name for n in ex.nodes)}): no neuron is open"[:400])
            self.layer = self.channel = self.cell = None
            return
        channels = node.shape[-1]
        if self.channel is None:
            self.channel = 0
        elif self.channel >= channels:
            changes.append(f"{node.name} has {channels} {'channels' if node.spatial else 'units'} "
                           f"(0 to {channels - 1}), not '{self.channel}': using {channels - 1}")
            self.channel = channels - 1
        if self.cell is None:
            return
        if not node.spatial:
            changes.append(f"{node.name} outputs a vector: the cell {self.cell[:20]!r} is left out")
            self.cell = None
            return
        r, c = (int(v) for v in re.findall(r"\d+", self.cell))
        rr, cc = min(r, node.shape[0] - 1), min(c, node.shape[1] - 1)
        if (rr, cc) != (r, c):
            changes.append(f"cell ({r}, {c}) is outside {node.name}'s {node.shape[0]}×"
                           f"{node.shape[1]} map: picked ({rr}, {cc}), the nearest")
        self.cell = f"{rr},{cc}"
