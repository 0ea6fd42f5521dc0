"""Layers that move numbers without computing new ones: ZeroPadding2D adds zeros around
each map and Cropping2D cuts rows and columns off (a cell's field shifts by them),
UpSampling2D repeats each number, Reshape and Permute lay the same numbers out otherwise
(a cell's field: the whole input)."""

from __future__ import annotations

from typing import Any

from app.geometry import pair
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


class Cropping2DKind(LayerKind):
    name = "Cropping2D"
    plain = {"cropping": "pairs"}
    note = "Cropping2D cuts rows and columns off each map: this is the input's number here"

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        (top, _), (left, _) = layer.cropping
        return super().back(layer, src_shape, (region[0] + top, region[1] + top,
                                               region[2] + left, region[3] + left))

    def breakdown(self, place: Place) -> Value:
        (top, _), (left, _) = place.layer.cropping
        r, c, ch = place.where
        return Value(**place.common(), inputs=[float(place.src[r + top, c + left, ch])],
                     position=[r + top, c + left, ch], note=self.note)


class UpSampling2DKind(LayerKind):
    name = "UpSampling2D"
    plain = {"size": "int or ints", "interpolation": "interpolation"}
    note = "UpSampling2D repeats each number of its input"

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        sh, sw = pair(layer.size)
        return super().back(layer, src_shape, (region[0] // sh, region[1] // sh,
                                               region[2] // sw, region[3] // sw))


class _Relayout(LayerKind):
    """The same numbers laid out in another shape: a place comes from anywhere."""

    def back(self, layer: Any, src_shape: Shape, region: Region) -> Region:
        return (0, src_shape[0] - 1, 0, src_shape[1] - 1)

    def breakdown(self, place: Place) -> Value:
        return Value(**place.common(), note=f"{self.name} lays its input's numbers out in "
                     "another shape: this number is one of them, unchanged")


class ReshapeKind(_Relayout):
    name = "Reshape"
    plain = {"target_shape": "ints"}


class PermuteKind(_Relayout):
    name = "Permute"
    plain = {"dims": "ints"}


KINDS: tuple[LayerKind, ...] = (ZeroPadding2DKind(), Cropping2DKind(), UpSampling2DKind(),
                                ReshapeKind(), PermuteKind())
