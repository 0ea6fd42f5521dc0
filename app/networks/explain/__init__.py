"""Explain: every layer of a model on one input, how each number is computed, and which
pixels a prediction rests on (graph.py, explainer.py, saliency.py; the page's view and link
in view.py and link.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.networks.explain.explainer import Explainer, LayerOverview, Overview
from app.networks.explain.saliency import Saliency, overlay_url, seen_image

if TYPE_CHECKING:
    from app.networks.inference import LoadedModel


def explainer(loaded: LoadedModel) -> Explainer:
    """The model's explainer, made on first use and kept with the loaded model."""
    from app.networks.inference import KERAS_LOCK

    found = loaded.explainer
    if found is None:
        with KERAS_LOCK:
            found = loaded.explainer
            if found is None:
                found = Explainer(loaded)
                loaded.explainer = found
    return found


__all__ = ["Explainer", "LayerOverview", "Overview", "Saliency", "explainer", "overlay_url",
           "seen_image"]
