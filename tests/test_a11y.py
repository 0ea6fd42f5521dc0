"""Accessibility infrastructure: the axe helper fails when it should, and the Kernel Lab's
colour scale stays readable with the common colour-vision deficiencies."""

from __future__ import annotations

import re

import numpy as np
import pytest

from app.imaging.rendering import DIVERGING_PALETTE
from tests.conftest import ROOT, assert_accessible

# Machado, Oliveira & Fernandes (2009), severity 1.0: how people with protanopia,
# deuteranopia and tritanopia see a linear-RGB colour.
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
    "typical vision": np.eye(3).tolist(),
}


def linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def cielab(lin: np.ndarray) -> np.ndarray:
    xyz = np.clip(lin, 0, 1) @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                                         [0.0193, 0.1192, 0.9505]]).T
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


@pytest.mark.parametrize("vision", CVD)
def test_the_diverging_scale_reads_with_colour_vision_deficiencies(vision):
    """Blue–white–red (ColorBrewer's RdBu): a negative and a positive value of the same size
    stay clearly different colours (ΔE*ab ≥ 10 from a tenth of the range on) for each
    deficiency, and lightness falls steadily from white at zero to dark at both ends, so
    the size of a value reads without any hue at all (or in grayscale print)."""
    srgb = np.asarray(DIVERGING_PALETTE, dtype=np.float64).reshape(256, 3) / 255
    seen = cielab(linear(srgb) @ np.asarray(CVD[vision]).T)
    d = np.arange(13, 128)  # |value| from 10% of the largest on
    difference = np.linalg.norm(seen[127 - d] - seen[128 + d], axis=1)
    assert difference.min() >= 10, (vision, d[difference.argmin()], difference.min())
    lightness = cielab(linear(srgb))[:, 0]
    assert np.all(np.diff(lightness[:128]) > 0) and np.all(np.diff(lightness[128:]) < 0)
    assert lightness[127] > 95 and max(lightness[0], lightness[255]) < 25


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    def lum(rgb):
        c = linear(np.asarray(rgb) / 255)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_numbers_on_the_scale_are_readable():
    """The numeric tables colour each cell by the scale: its number has WCAG AA contrast."""
    css = (ROOT / "static" / "css" / "app.css").read_text()
    cells = re.findall(r"\.grid td\.c(\d+) \{ background: rgb\((\d+),(\d+),(\d+)\); "
                       r"color: #(fff|111); \}", css)
    assert len(cells) == 11
    for _, r, g, b, fg in cells:
        text = (255, 255, 255) if fg == "fff" else (17, 17, 17)
        assert contrast((int(r), int(g), int(b)), text) >= 4.5, (r, g, b, fg)


@pytest.mark.browser
def test_the_axe_helper_fails_on_a_serious_violation(page):
    page.goto(page.base_url + "/")
    assert_accessible(page, "home")
    page.evaluate("""() => {
      const img = document.createElement("img");
      img.src = "/static/favicon.svg";
      document.querySelector("main").appendChild(img);  // no alt: critical
    }""")
    with pytest.raises(AssertionError, match="image-alt"):
        assert_accessible(page, "home with an image without alt")
