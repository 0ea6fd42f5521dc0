"""What the insight pages show, as plain values for their templates: links between the
views (a channel, its atlas, an example opened in Explain), a channel's activation
figures, and the embedding map's points and colours."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np

from app.networks.insight import pictures
from app.networks.insight.embedding import Embedding, sprite_columns
from app.networks.insight.model_insight import ChannelExamples, ModelInsight
from app.networks.insight.visualization import Visualization

# Tableau 10: ten classes told apart, also by most colour-blind readers (shapes mark the
# misclassified, so colour is never the only cue there).
CLASS_COLOURS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
                 "#ff9da7", "#9c755f", "#bab0ac")


def channel_url(model: str, layer: str, channel: int) -> str:
    return "/insight/channel?" + urlencode({"model": model, "layer": layer, "channel": channel})


def atlas_url(model: str, layer: str) -> str:
    return "/insight/atlas?" + urlencode({"model": model, "layer": layer})


def panel_url(model: str, layer: str, channel: int, examples: bool = True) -> str:
    query: dict[str, str | int] = {"model": model, "layer": layer, "channel": channel}
    if not examples:
        query["examples"] = "no"
    return "/insight/channel/panel?" + urlencode(query)


def explain_url(model: str, index: int, label: int, layer: str | None = None,
                channel: int | None = None, cell: tuple[int, int] | None = None) -> str:
    """A test image opened in Explain (with a neuron open, when given)."""
    query: list[tuple[str, str | int]] = [("model", model), ("source", "test"),
                                          ("class", label), ("index", index)]
    if layer is not None and channel is not None:
        query += [("layer", layer), ("channel", channel)]
        if cell is not None:
            query.append(("cell", f"{cell[0]},{cell[1]}"))
    return "/explain?" + urlencode(query)


@dataclass
class ChannelStats:
    """The channel over the whole test split: how often and how strongly it fires."""

    searched: int
    firing: float  # the share of images on which its maximum is above 0
    median: float  # the median of its maxima
    top: float  # the largest of its maxima
    top_mean: float  # its largest mean activation on a test image


def channel_stats(found: ChannelExamples) -> ChannelStats:
    m = found.maxima
    return ChannelStats(len(m), float((m > 0).mean()), float(np.median(m)), float(m.max()),
                        float(found.means.max()))


def visualization_url(vis: Visualization) -> str:
    return pictures.image_url(vis.pixels / 255)


def points_json(emb: Embedding, info_id: str) -> str:
    """The map's points for the page's script: [x, y, label, prediction, index] each."""
    rows = [[round(float(x), 4), round(float(y), 4), int(t), int(p), i]
            for i, (x, y, t, p) in enumerate(zip(emb.x, emb.y, emb.labels, emb.predictions,
                                                 strict=True))]
    return json.dumps(rows, separators=(",", ":"))


@dataclass
class MapSummary:
    count: int
    wrong: list[tuple[int, int, int]]  # (index, true, predicted) of the misclassified
    columns: int  # of the sprite


def map_summary(emb: Embedding) -> MapSummary:
    wrong = [(i, int(t), int(p)) for i, (t, p) in enumerate(zip(emb.labels, emb.predictions,
                                                               strict=True)) if t != p]
    return MapSummary(len(emb.x), wrong, sprite_columns(len(emb.x)))


def layer_choices(mi: ModelInsight) -> list[tuple[str, str, int]]:
    """(name, type, channels) of every layer with maps."""
    from app.networks.insight.channels import map_layers

    return [(n.name, n.type, n.shape[-1]) for n in map_layers(mi.graph)]
