"""What a dataset upload is held to: the uploader's choices (`DatasetOptions`) and the
limits from the settings (`UploadLimits`), shared by every step from the zip to the arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.config import Settings
from app.imaging.fitting import Fit

Color = Literal["grayscale", "rgb"]
OnBadFile = Literal["skip", "refuse"]


@dataclass(frozen=True)
class UploadLimits:
    """The limits a dataset zip is held to (all settings, named in every refusal)."""

    zip_bytes: int
    expanded_bytes: int
    images: int
    classes: int
    image_bytes: int
    image_pixels: int

    @classmethod
    def of(cls, settings: Settings) -> UploadLimits:
        return cls(settings.max_dataset_zip_bytes, settings.max_dataset_expanded_bytes,
                   settings.max_dataset_images, settings.max_dataset_classes,
                   settings.max_upload_bytes, settings.max_image_pixels)


@dataclass(frozen=True)
class DatasetOptions:
    """How the images become arrays: the uploader's choices."""

    image_size: int = 32
    color: Color = "rgb"
    fit: Fit = "crop"
    test_fraction: float = 0.2
    on_bad_file: OnBadFile = "skip"
    seed: int = 0

    @property
    def channels(self) -> int:
        return 1 if self.color == "grayscale" else 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.image_size, self.image_size, self.channels
