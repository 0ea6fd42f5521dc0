"""The insight pages' states as links (app/links.py), read back to the nearest valid state:
a channel (`/insight/channel?model=…&layer=…&channel=…`), a layer's atlas
(`/insight/atlas?model=…&layer=…`) and the embedding map
(`/insight/embedding?model=…&layer=…&method=…&count=…`). A link naming a model that is
gone, a layer it does not have (or one without maps, for a channel), a channel past the
last opens the nearest state that works, and says what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from pydantic import Field, PrivateAttr

from app.links import LinkState
from app.networks import explain
from app.networks.explain.explainer import Explainer
from app.networks.inference import LoadedModels
from app.networks.insight import channels
from app.networks.insight.embedding import MAX_COUNT
from app.networks.registry import DEFAULT_MODEL, MODEL_ID_PATTERN, ModelInfo, Registry

LAYER_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$"


@dataclass
class InsightContext:
    registry: Registry
    models: LoadedModels


class _ModelLink(LinkState):
    model: str = Field(DEFAULT_MODEL, pattern=MODEL_ID_PATTERN, max_length=64)

    _info: ModelInfo | None = PrivateAttr(None)
    _graph: Explainer | None = PrivateAttr(None)

    @property
    def info(self) -> ModelInfo:
        assert self._info is not None, "read the link first"
        return self._info

    @property
    def graph(self) -> Explainer:
        assert self._graph is not None, "read the link first"
        return self._graph

    def _model(self, context: InsightContext, changes: list[str]) -> Self:
        info, change = context.registry.get_or_shipped(self.model)
        if change:
            changes.append(change)
        state = self.model_copy(update={"model": info.id})
        state._info = info
        state._graph = explain.explainer(context.models.get(info.id))
        return state


class _LayerLink(_ModelLink):
    layer: str | None = Field(None, pattern=LAYER_PATTERN)

    def _map_layer(self, changes: list[str]) -> None:
        """A layer with maps: the one named, else the model's first (none if it has none)."""
        maps = channels.map_layers(self.graph)
        names = [n.name for n in maps]
        if self.layer is not None and self.layer not in names:
            node = self.graph.by_name.get(self.layer)
            why = (f"{self.info.id} has no layer {self.layer[:40]!r}" if node is None or
                   node.index == 0 else f"{self.layer} outputs no spatial maps")
            first = names[0] if names else None
            changes.append(f"{why} (its layers with maps: {', '.join(names) or 'none'}): "
                           + (f"using {first}" if first else "none to show")[:400])
            self.layer = first
        elif self.layer is None and names:
            self.layer = names[0]

    @property
    def channels(self) -> int:
        return self.graph.by_name[self.layer].shape[-1] if self.layer else 0


class ChannelLink(_LayerLink):
    channel: int = Field(0, ge=0, le=1_000_000)

    def fix(self, context: InsightContext, changes: list[str]) -> Self:
        state = self._model(context, changes)
        state._map_layer(changes)
        n = state.channels
        if n and state.channel >= n:
            changes.append(f"{state.layer} has {n} channels (0 to {n - 1}), not "
                           f"{state.channel}: using {n - 1}")
            state.channel = n - 1
        return state


class AtlasLink(_LayerLink):
    def fix(self, context: InsightContext, changes: list[str]) -> Self:
        state = self._model(context, changes)
        state._map_layer(changes)
        return state


class EmbeddingLink(_ModelLink):
    layer: str | None = Field(None, pattern=LAYER_PATTERN)
    method: Literal["tsne", "pca"] = "tsne"
    count: int = Field(MAX_COUNT, ge=10, le=MAX_COUNT)

    def fix(self, context: InsightContext, changes: list[str]) -> Self:
        state = self._model(context, changes)
        hidden = channels.hidden_layer(state.graph).name
        node = state.graph.by_name.get(state.layer) if state.layer else None
        if state.layer is not None and (node is None or node.index == 0):
            changes.append(f"{state.info.id} has no layer {state.layer[:40]!r}: using its last "
                           f"hidden layer, {hidden}")
            state.layer = None
        if state.layer == hidden:
            state.layer = None  # the default: left out of the link
        return state
