"""A layer's channels as one picture: a grid of its maps, one PNG for the whole layer.

Draw redraws every layer four times a second while a digit is being drawn. One small PNG
per channel (a layer of 64 maps is 64 images) costs a palette and a header each, so most of
an update's bytes were overhead, and each image is an element to decode. Here a layer is one
palette PNG: its maps side by side in rows, separated by one-pixel grid lines (a 256th
colour in the palette), small maps enlarged by whole pixels so that every map is at least
`MIN_SIDE` pixels, and a display size in whole screen pixels per image pixel. The page
puts links over the tiles where a map opens something (`MapGrid.tiles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from app.imaging.palette_png import chunk, palette_png
from app.imaging.rendering import HEAT_PALETTE, SignedScale, data_url, diverging_colours

MIN_SIDE = 12  # image pixels: smaller maps are enlarged by a whole factor to at least this
TILE_PX = 48  # about how many screen pixels a map is shown at
COLUMNS = 16
LINE = 255  # the palette index of the grid lines
LINE_RGB = (196, 202, 212)  # a neutral grey, unlike any colour of the scale


# 255 colours of the diverging scale (an odd number: index 127 is exactly its white, for
# zero) and the grid lines' grey.
GRID_PALETTE = diverging_colours(255) + list(LINE_RGB)
_GRID_PLTE = chunk(b"PLTE", bytes(GRID_PALETTE))


def grid_indices(x: np.ndarray, scale: SignedScale) -> np.ndarray:
    """Values on the 255-colour scale: 0 → 127 (white), ±bound → 0 or 254."""
    return np.clip(np.rint(x * (127.0 / scale.bound) + 127.0), 0, 254).astype(np.uint8)


@dataclass(frozen=True)
class Tile:
    index: int
    x: int  # its top-left corner in the picture, in image pixels
    y: int


@dataclass(frozen=True)
class MapGrid:
    """One layer's maps as one PNG: `count` tiles of `tile_w`×`tile_h` image pixels in
    `cols` columns, one pixel of grid line around each, shown `zoom` times larger."""

    url: str
    count: int
    cols: int
    rows: int
    tile_w: int
    tile_h: int
    zoom: int

    @property
    def width(self) -> int:
        return self.cols * (self.tile_w + 1) + 1

    @property
    def height(self) -> int:
        return self.rows * (self.tile_h + 1) + 1

    @property
    def display_width(self) -> int:
        return self.width * self.zoom

    @property
    def display_height(self) -> int:
        return self.height * self.zoom

    @property
    def tiles(self) -> list[Tile]:
        return [Tile(i, 1 + (i % self.cols) * (self.tile_w + 1),
                     1 + (i // self.cols) * (self.tile_h + 1)) for i in range(self.count)]


def map_grid(x: np.ndarray, scale: SignedScale | None = None, columns: int = COLUMNS) -> MapGrid:
    """An H×W×C array (one map per channel, all on one signed scale) as a grid picture."""
    scale = scale or SignedScale.of(x)
    h, w, c = x.shape
    up = math.ceil(MIN_SIDE / min(h, w)) if min(h, w) < MIN_SIDE else 1
    th, tw = h * up, w * up
    cols = max(1, min(columns, c))
    rows = math.ceil(c / cols)
    idx = grid_indices(x, scale)
    if up > 1:
        idx = cv2.resize(idx, (tw, th), interpolation=cv2.INTER_NEAREST)
        idx = idx.reshape(th, tw, c)
    picture = np.full((rows * (th + 1) + 1, cols * (tw + 1) + 1), LINE, np.uint8)
    padded = np.full((rows * cols, th, tw), LINE, np.uint8)
    padded[:c] = np.moveaxis(idx, 2, 0)
    # Tiles in rows and columns, each followed by its grid line, in one reshape.
    body = picture[1:, 1:].reshape(rows, th + 1, cols, tw + 1)
    body[:, :th, :, :tw] = padded.reshape(rows, cols, th, tw).transpose(0, 2, 1, 3)
    zoom = max(1, round(TILE_PX / max(th, tw)))
    return MapGrid(data_url(palette_png(picture, _GRID_PLTE)), c, cols, rows, tw, th, zoom)


_HEAT = chunk(b"PLTE", HEAT_PALETTE.tobytes())
# More opaque where hotter, as app.networks.explain.saliency.overlay_url blends it (0.65 at
# the top).
_HEAT_ALPHA = chunk(b"tRNS", bytes(round(0.65 * i) for i in range(256)))


def heat_overlay_url(heat: np.ndarray) -> str:
    """A heatmap in [0, 1] (at the input's size) on the heat palette, transparent where
    cold: a small PNG the page lays over the input (its browser scales it smoothly)."""
    idx = np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8)
    return data_url(palette_png(idx, _HEAT, _HEAT_ALPHA))
