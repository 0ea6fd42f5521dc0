"""One model's insight, as the web layer asks for it: a channel's examples and
visualization, a layer's atlas, the embedding map and an attack, each computed once and
kept (cache.py), with the computations a page shows progress for startable in the
background. Got with `insight(loaded, datasets)`, like app.networks.explain.explainer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.datasets.catalog import DatasetCatalog
from app.errors import Conflict, Unavailable
from app.networks import explain
from app.networks.explain.graph import Node
from app.networks.insight import adversarial, channels, embedding, examples, visualization
from app.networks.insight.adversarial import Adversarial, Attack
from app.networks.insight.cache import InsightCache, Progress, cache_for
from app.networks.insight.embedding import Embedding, Method
from app.networks.insight.testsplit import TestSplit, test_split
from app.networks.insight.visualization import Visualization

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel


@dataclass
class ChannelExamples:
    node: Node
    channel: int
    examples: list[examples.Example]
    maxima: np.ndarray  # the channel's maximum on every test image
    means: np.ndarray  # and its mean


@dataclass
class Pending:
    """A computation under way: what a page shows while it waits."""

    progress: Progress


class ModelInsight:
    def __init__(self, loaded: LoadedModel, datasets: DatasetCatalog) -> None:
        self.loaded = loaded
        self.info = loaded.info
        self.graph = explain.explainer(loaded)
        self.cache: InsightCache = cache_for(loaded)
        self.datasets = datasets

    # ------------------------------------------------------------------ finding things

    def map_layer(self, layer: str, field: str = "path.layer") -> Node:
        return channels.map_layer(self.graph, layer, field)

    def channel_of(self, layer: str, channel: int) -> tuple[Node, int]:
        node = self.map_layer(layer)
        return node, channels.channel(node, channel)

    def split(self, what: str = "examples") -> TestSplit:
        return test_split(self.info, self.datasets, self.cache, what)

    def has_test_images(self) -> str | None:
        """None when the model has test images here, else why not."""
        try:
            self.split()
        except (Conflict, Unavailable) as exc:
            return str(exc)
        return None

    # ------------------------------------------------------------------ examples

    def _maxima_key(self, node: Node, split: TestSplit) -> tuple[Any, ...]:
        return ("maxima", node.name, split.dataset, len(split))

    def examples(self, layer: str, channel: int, k: int = 9) -> ChannelExamples:
        node, channel = self.channel_of(layer, channel)
        split = self.split()
        maxima = examples.maxima_of(self.loaded, node, split, self.cache)
        found = examples.examples(self.graph, node, channel, k, maxima, split)
        return ChannelExamples(node, channel, found, maxima.values[:, channel],
                               maxima.means[:, channel])

    # ------------------------------------------------------------------ visualization

    def visualization(self, layer: str, channel: int) -> Visualization:
        node, channel = self.channel_of(layer, channel)
        return visualization.visualization(self.loaded, node, channel, self.cache)

    def atlas(self, layer: str) -> list[Visualization]:
        node = self.map_layer(layer)
        return self.cache.compute(("atlas", node.name), lambda p: visualization.atlas(
            self.loaded, node, self.cache, p))

    # ------------------------------------------------------------------ the embedding

    def embedding_layer(self, layer: str | None) -> Node:
        if layer is None:
            return channels.hidden_layer(self.graph)
        return channels.layer(self.graph, layer, "layer")

    def embedding(self, layer: str | None, method: Method,
                  count: int) -> Embedding:
        node = self.embedding_layer(layer)
        split = self.split("the embedding")
        return embedding.embedding(self.loaded, node, method, split, count, self.cache)

    def sprite(self, count: int) -> bytes:
        return embedding.sprite(self.split("the embedding"), count, self.cache)

    # ------------------------------------------------------------------ attacks

    def attack(self, x: np.ndarray, epsilon: float, method: Attack,
               target: int | None) -> Adversarial:
        """x: the model's input in 0–1 (to_unit)."""
        return adversarial.attack(self.loaded, self.graph, x, epsilon, method, target,
                                  self.cache)

    # ------------------------------------------------------------------ for pages

    def channel_pending(self, layer: str, channel: int, with_examples: bool) -> Pending | None:
        """None when the channel's examples (if wanted) and visualization are ready; else
        their computation, started in the background if it was not under way."""
        node, channel = self.channel_of(layer, channel)
        keys: list[tuple[Any, ...]] = []
        if with_examples:
            keys.append(self._maxima_key(node, self.split()))
        keys.append(("visualization", node.name, channel))

        def work(_: Progress) -> None:
            if with_examples:
                self.examples(layer, channel, 1)
            self.visualization(layer, channel)

        return self._pending(keys, ("channel", node.name, channel), work)

    def atlas_pending(self, layer: str) -> Pending | None:
        node = self.map_layer(layer)
        return self._pending([("atlas", node.name)], ("atlas", node.name),
                             lambda _: self.atlas(layer))

    def embedding_pending(self, layer: str | None, method: Method,
                          count: int) -> Pending | None:
        node = self.embedding_layer(layer)
        split = self.split("the embedding")
        key = embedding.embedding_key(node.name, method, split, count)
        return self._pending([key], key,
                             lambda _: self.embedding(layer, method, count))

    def _pending(self, keys: list[tuple[Any, ...]], task: tuple[Any, ...],
                 work: Any) -> Pending | None:
        missing = [key for key in keys if self.cache.get(key) is None]
        if not missing:
            return None
        task = ("page", *task)  # never a key `work` computes under: it would wait for itself
        for key in [*missing, task]:
            failed = self.cache.failure(key)
            if failed is not None:
                raise failed
        for key in missing:
            progress = self.cache.progress(key)
            if progress is not None:
                return Pending(progress)
        self.cache.start(task, work)
        return Pending(self.cache.progress(task) or Progress())


def insight(loaded: LoadedModel, datasets: DatasetCatalog) -> ModelInsight:
    return ModelInsight(loaded, datasets)
