"""The whole ingestion of one zip, step by step: its directory checked (`zip_checks`), its
images decoded (`images`), the counts checked again after skipping, the split
(`stratified_split`), and the arrays with their report (`Built`), ready to store."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.datasets.uploads.images import Progress, read_images
from app.datasets.uploads.options import DatasetOptions, UploadLimits
from app.datasets.uploads.refusals import DatasetRefused
from app.datasets.uploads.stratified_split import split
from app.datasets.uploads.zip_checks import ZipPlan, check_counts, inspect_zip


@dataclass
class Built:
    """A dataset's arrays (uint8 images, int labels), ready to store."""

    class_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    report: dict[str, Any]

    def counts(self, split: Literal["train", "test"]) -> list[int]:
        y = self.y_train if split == "train" else self.y_test
        return np.bincount(y, minlength=len(self.class_names)).tolist()

    def npz(self) -> bytes:
        """The arrays as a compressed `.npz`, in the layout of `keras.datasets`' files."""
        buf = io.BytesIO()
        np.savez_compressed(buf, x_train=self.x_train, y_train=self.y_train,
                            x_test=self.x_test, y_test=self.y_test)
        return buf.getvalue()


def build(path: Path, options: DatasetOptions, limits: UploadLimits,
          progress: Progress | None = None, plan: ZipPlan | None = None) -> Built:
    """The whole ingestion of one zip: checks, decoding, the split, a report."""
    plan = plan or inspect_zip(path, limits, options)
    images, labels, unreadable = read_images(path, plan, options, limits, progress)
    counts = np.bincount(labels, minlength=len(plan.class_names)).tolist()
    skipped = plan.skipped + unreadable
    try:
        check_counts(plan.class_names, counts, options, limits)
    except DatasetRefused as exc:
        raise DatasetRefused(exc.message + (f" (after skipping {len(skipped)} files that are "
                             "not images that can be read)" if skipped else ""), skipped) from None
    if progress is not None:
        progress("splitting", len(plan.members), len(plan.members))
    x_train, y_train, x_test, y_test = split(images, labels, len(plan.class_names),
                                             options.test_fraction, options.seed)
    report = {"files": len(plan.members) + len(plan.skipped), "images": len(labels),
              "skipped": skipped, "ignored": plan.ignored}
    return Built(plan.class_names, x_train, y_train, x_test, y_test, report)
