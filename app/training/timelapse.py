"""A training job's timelapse: what its first convolution learns, epoch by epoch.

Before training (epoch 0) and after each epoch, the trainer records a `Frame`: the first
Conv2D layer's kernels, that layer's feature maps of one fixed test image (the probe), and
the validation accuracy. Each frame is one row of `job_frames`, its arrays compressed
float16, written as its epoch ends: a worker killed mid-epoch leaves the frames so far,
and no shared disk is needed. The web server renders a frame's images once and keeps them
(a frame never changes).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.imaging.rendering import SignedScale, png_data_urls, signed_map_image
from app.storage.database import Database
from app.storage.tables import JobFrameRow

MAX_CHANNELS = 64  # kernels and maps kept per frame (the first ones of a wider layer)
PROBE_INDEX = 0  # the probe: this image of the dataset's test split
RENDERED_KEPT = 512  # rendered frames kept in memory


@dataclass
class Frame:
    epoch: int
    kernels: np.ndarray | None  # (k_h, k_w, c_in, filters), None without a Conv2D layer
    maps: np.ndarray | None  # (h, w, filters): the probe's feature maps
    val_accuracy: float | None
    probe: np.ndarray | None = None  # the probe image (H, W, C) in [0, 1]: frame 0 only
    probe_label: int | None = None


def capture(epoch: int, kernels: np.ndarray | None, maps: np.ndarray | None,
            val_accuracy: float | None, **probe: Any) -> Frame:
    """A frame of at most MAX_CHANNELS channels."""
    if kernels is not None:
        kernels = kernels[..., :MAX_CHANNELS]
    if maps is not None:
        maps = maps[..., :MAX_CHANNELS]
    return Frame(epoch, kernels, maps, val_accuracy, **probe)


def encode(frame: Frame) -> bytes:
    arrays: dict[str, Any] = {}
    for name in ("kernels", "maps", "probe"):
        value = getattr(frame, name)
        if value is not None:
            arrays[name] = np.asarray(value, dtype=np.float16)
    if frame.probe_label is not None:
        arrays["probe_label"] = np.array(frame.probe_label, dtype=np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def decode(epoch: int, val_accuracy: float | None, blob: bytes) -> Frame:
    with np.load(io.BytesIO(blob)) as f:
        got = {name: f[name].astype(np.float32) for name in ("kernels", "maps", "probe")
               if name in f.files}
        label = int(f["probe_label"]) if "probe_label" in f.files else None
    return Frame(epoch, got.get("kernels"), got.get("maps"), val_accuracy, got.get("probe"),
                 label)


@dataclass(frozen=True)
class Probe:
    index: int
    label: int | None
    image: str  # PNG data URL


@dataclass(frozen=True)
class RenderedFrame:
    epoch: int
    kernels: list[str]
    maps: list[str]
    val_accuracy: float | None
    kernel_shape: list[int] = field(default_factory=list)
    map_shape: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Timelapse:
    probe: Probe | None
    frames: list[RenderedFrame]


def _kernel_images(k: np.ndarray) -> list[Image.Image]:
    """One image per filter, on one scale for the frame: RGB where the input has three
    channels (what the filter looks for in colour), else the diverging scale of the first
    input channel."""
    if k.shape[2] == 3:
        bound = float(np.abs(k).max()) or 1.0
        rgb = np.clip(np.rint(127.5 + k * (127.5 / bound)), 0, 255).astype(np.uint8)
        return [Image.fromarray(np.ascontiguousarray(rgb[:, :, :, f]), "RGB")
                for f in range(k.shape[3])]
    k2d = k[:, :, 0, :]
    scale = SignedScale.of(k2d)
    return [signed_map_image(k2d[:, :, f], scale) for f in range(k2d.shape[2])]


def render(frame: Frame) -> tuple[RenderedFrame, Probe | None]:
    images: list[Image.Image] = []
    n_kernels = 0
    if frame.kernels is not None:
        kernel_images = _kernel_images(frame.kernels)
        n_kernels = len(kernel_images)
        images += kernel_images
    if frame.maps is not None:
        scale = SignedScale.of(frame.maps)
        images += [signed_map_image(frame.maps[:, :, c], scale) for c in range(frame.maps.shape[2])]
    if frame.probe is not None:
        p = np.clip(np.rint(frame.probe * 255), 0, 255).astype(np.uint8)
        images.append(Image.fromarray(p[:, :, 0] if p.shape[2] == 1 else p))
    urls = png_data_urls(images)
    probe = None
    if frame.probe is not None:
        probe = Probe(PROBE_INDEX, frame.probe_label, urls.pop())
    rendered = RenderedFrame(
        frame.epoch, urls[:n_kernels], urls[n_kernels:], frame.val_accuracy,
        list(frame.kernels.shape) if frame.kernels is not None else [],
        list(frame.maps.shape) if frame.maps is not None else [])
    return rendered, probe


class Timelapses:
    """The job_frames table: workers record frames, the web server reads them rendered."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._rendered: OrderedDict[tuple[str, int], tuple[RenderedFrame, Probe | None]] = (
            OrderedDict())
        self._lock = threading.Lock()

    def record(self, job_id: str, frame: Frame) -> None:
        """Store one frame (a frame already stored for that epoch is kept)."""
        try:
            with self.database.begin() as s:
                s.add(JobFrameRow(job_id=job_id, epoch=frame.epoch,
                                  val_accuracy=frame.val_accuracy, arrays=encode(frame)))
        except IntegrityError:
            pass

    def count(self, job_id: str) -> int:
        with self.database.session() as s:
            return int(s.scalar(select(func.count()).select_from(JobFrameRow)
                                .where(JobFrameRow.job_id == job_id)) or 0)

    def frames(self, job_id: str, from_epoch: int = 0) -> list[Frame]:
        """The stored frames, decoded, in epoch order."""
        with self.database.session() as s:
            rows = s.execute(select(JobFrameRow.epoch, JobFrameRow.val_accuracy,
                                    JobFrameRow.arrays)
                             .where(JobFrameRow.job_id == job_id, JobFrameRow.epoch >= from_epoch)
                             .order_by(JobFrameRow.epoch)).all()
        return [decode(epoch, acc, blob) for epoch, acc, blob in rows]

    def read(self, job_id: str, from_epoch: int = 0) -> Timelapse:
        """The frames from `from_epoch` on, as images; each frame is rendered only once."""
        with self.database.session() as s:
            epochs = list(s.scalars(select(JobFrameRow.epoch)
                                    .where(JobFrameRow.job_id == job_id)
                                    .order_by(JobFrameRow.epoch)))
        wanted = [e for e in epochs if e >= from_epoch]
        needed = sorted({e for e in [*wanted, *epochs[:1]] if not self._cached(job_id, e)})
        if needed:
            with self.database.session() as s:
                rows = s.execute(select(JobFrameRow.epoch, JobFrameRow.val_accuracy,
                                        JobFrameRow.arrays)
                                 .where(JobFrameRow.job_id == job_id,
                                        JobFrameRow.epoch.in_(needed))).all()
            for epoch, acc, blob in rows:
                self._keep((job_id, epoch), render(decode(epoch, acc, blob)))
        probe = None
        if epochs:
            first = self._get(job_id, epochs[0])
            probe = first[1] if first else None
        frames = [got[0] for e in wanted if (got := self._get(job_id, e)) is not None]
        return Timelapse(probe, frames)

    def _cached(self, job_id: str, epoch: int) -> bool:
        with self._lock:
            return (job_id, epoch) in self._rendered

    def _get(self, job_id: str, epoch: int) -> tuple[RenderedFrame, Probe | None] | None:
        with self._lock:
            got = self._rendered.get((job_id, epoch))
            if got is not None:
                self._rendered.move_to_end((job_id, epoch))
            return got

    def _keep(self, key: tuple[str, int], value: tuple[RenderedFrame, Probe | None]) -> None:
        with self._lock:
            self._rendered[key] = value
            while len(self._rendered) > RENDERED_KEPT:
                self._rendered.popitem(last=False)
