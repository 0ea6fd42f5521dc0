"""What each channel looks for, for any model: dataset examples (examples.py), feature
visualization and a layer's atlas (visualization.py), the embedding map (embedding.py),
adversarial examples (adversarial.py); computed once per model and layer and kept
(cache.py). The web layer asks `insight(loaded, datasets)` (model_insight.py); occlusion,
a saliency method, is in app/networks/explain/occlusion.py."""

from __future__ import annotations

from app.networks.insight.model_insight import ModelInsight, insight

__all__ = ["ModelInsight", "insight"]
