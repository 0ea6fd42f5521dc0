"""Layers that move numbers without computing new ones: ZeroPadding2D adds zeros around
each map (a cell's field shifts by the padding)."""

from __future__ import annotations

from typing import Any

from app.networks.layers.base import LayerKind, Place, Region, Shape, Value


class ZeroPadding2DKind(LayerKind):
    name = "ZeroPadding2D"
    note = "ZeroPadding2D adds zeros around each map"

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        (top, _), (left, _) = layer.padding
        return super().back(layer, src_shape, (region[0] - top, region[1] - top,
                                               region[2] - left, region[3] - left))

    def breakdown(self, place: Place) -> Value:
        return Value(**place.common(), note=self.note)


KINDS: tuple[LayerKind, ...] = (ZeroPadding2DKind(),)
