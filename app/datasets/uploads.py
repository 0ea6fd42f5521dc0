"""A dataset from a zip of class folders (`cats/001.jpg`, `dogs/…`): the checks on the zip,
decoding and fitting each image, and the seeded, stratified train/test split.

`inspect_zip` reads only the zip's directory and refuses what must never be expanded (a zip
bomb, path traversal, symlinks, nested archives, encrypted members) or cannot make a dataset
(one class, too many, a class too small to split, class names that differ only in case…);
`build` then decodes every image, fits and resizes it, splits train and test per class and
packs the arrays. Nothing here touches the database: app/datasets/store.py keeps the result,
app/datasets/ingestion.py runs `build` in its own process and reports its progress.

Members that are not images, or that cannot be decoded, are skipped and listed in the report,
or refuse the whole zip, as the uploader chose (`on_bad_file`).
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.config import Settings
from app.errors import InvalidInput, TooLarge
from app.imaging.decoding import ALLOWED_FORMATS, flatten_alpha
from app.imaging.fitting import Fit, draft_for, fit_image

Color = Literal["grayscale", "rgb"]
OnBadFile = Literal["skip", "refuse"]
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz", ".xz", ".txz",
                                ".7z", ".rar", ".zst", ".lz", ".lzma", ".z", ".cab", ".jar",
                                ".war", ".iso", ".cpio", ".arj"})
# What operating systems add to folders and zips: ignored without a word.
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__macosx"})
MAX_CLASS_NAME = 64
LISTED = 10  # files named in a refusal's message (the report lists them all)

Progress = Callable[[str, int, int], None]  # (phase, done, total)


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


class DatasetRefused(InvalidInput):
    """The zip cannot become a dataset; `files` names each member at fault and why."""

    def __init__(self, message: str, files: list[dict[str, str]] | None = None) -> None:
        super().__init__("file", message)
        self.files = files or []


class ZipTooLarge(TooLarge):
    """Over the compressed or the expanded size limit (a zip bomb)."""

    def __init__(self, message: str) -> None:
        super().__init__("file", message)


def refusal(kind: str, files: list[dict[str, str]], reasons: bool = False) -> DatasetRefused:
    """"3 members of the zip are symbolic links: 'a', 'b', 'c'" (the first few named, with
    why each, when `reasons`)."""
    names = ", ".join(repr(f["file"]) + (f" ({f['reason']})" if reasons else "")
                      for f in files[:LISTED])
    more = f" and {len(files) - LISTED} more" if len(files) > LISTED else ""
    what = "member of the zip is" if len(files) == 1 else "members of the zip are"
    return DatasetRefused(f"{len(files)} {what} {kind}: {names}{more}", files)


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    class_index: int

    @property
    def name(self) -> str:
        return self.info.filename


@dataclass
class ZipPlan:
    """What `inspect_zip` found: the classes (sorted, as Keras' `image_dataset_from_directory`
    orders them) and the image members to decode, with the files skipped and why."""

    class_names: list[str]
    members: list[Member]
    skipped: list[dict[str, str]] = field(default_factory=list)
    ignored: int = 0
    expanded_bytes: int = 0

    def counts(self) -> list[int]:
        return np.bincount([m.class_index for m in self.members],
                           minlength=len(self.class_names)).tolist()


def held_out(n: int, test_fraction: float) -> int:
    """Images of a class of n that go to the test split (rounded half up)."""
    return math.floor(n * test_fraction + 0.5)


def min_per_class(test_fraction: float) -> int:
    """The fewest images a class needs for at least one training and one test image."""
    n = 2
    while held_out(n, test_fraction) < 1 or n - held_out(n, test_fraction) < 1:
        n += 1
    return n


def _entries(path: Path) -> int | None:
    """The number of entries the zip's end record declares, read before Python's zipfile
    builds an object for each (a directory of millions of entries is refused unread)."""
    end_record = getattr(zipfile, "_EndRecData", None)
    if end_record is None:  # pragma: no cover  (every CPython has had it since 2.6)
        return None
    with path.open("rb") as f:
        rec = end_record(f)
    return None if rec is None else int(rec[4])  # zipfile._ECD_ENTRIES_TOTAL


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _unsafe_path(name: str) -> bool:
    """Absolute, drive-qualified or climbing out of the folder: `/x`, `C:x`, `../../x`."""
    parts = name.split("/")
    return (name.startswith("/") or re.match(r"^[A-Za-z]:", name) is not None
            or any(p == ".." for p in parts) or "\x00" in name)


def _is_system_file(parts: list[str]) -> bool:
    return (any(p.lower() in SYSTEM_FOLDERS for p in parts) or parts[-1].startswith(".")
            or parts[-1].lower() in SYSTEM_FILES)


def _suffix(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def _class_key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _check_class_name(name: str) -> str | None:
    if not name.strip():
        return "a class folder's name is empty or blank"
    if len(name) > MAX_CLASS_NAME:
        return f"the class name {name[:MAX_CLASS_NAME]!r}… is over {MAX_CLASS_NAME} characters"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return f"the class name {name!r} holds control characters"
    return None


def inspect_zip(path: Path, limits: UploadLimits, options: DatasetOptions) -> ZipPlan:
    """Every check that needs only the zip's directory; raises DatasetRefused (422) or
    ZipTooLarge (413) naming the problem and the files, or returns the plan."""
    size = path.stat().st_size
    if size > limits.zip_bytes:
        raise ZipTooLarge(f"the zip is {size} bytes, over the limit of {limits.zip_bytes} bytes "
                          "(CNNPG_MAX_DATASET_ZIP_BYTES)")
    if size == 0:
        raise DatasetRefused("the file is empty, not a zip")
    # Directories, system files and one file per image, with room to spare.
    max_entries = 2 * limits.images + limits.classes + 1000
    try:
        entries = _entries(path)
        if entries is not None and entries > max_entries:
            raise DatasetRefused(f"the zip has {entries} entries; a dataset holds at most "
                                 f"{limits.images} images (CNNPG_MAX_DATASET_IMAGES)")
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise DatasetRefused(f"not a zip file that can be read ({exc})") from None
    unsafe: list[dict[str, str]] = []
    links: list[dict[str, str]] = []
    nested: list[dict[str, str]] = []
    encrypted: list[dict[str, str]] = []
    candidates: list[tuple[zipfile.ZipInfo, list[str]]] = []
    expanded = 0
    ignored = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        if _unsafe_path(name):
            unsafe.append({"file": info.filename, "reason": "its path leaves the folder "
                           "(absolute, or with '..')"})
            continue
        if _is_symlink(info):
            links.append({"file": info.filename, "reason": "a symbolic link"})
            continue
        if info.is_dir():
            ignored += 1
            continue
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts or _is_system_file(parts):
            ignored += 1
            continue
        expanded += info.file_size
        suffix = _suffix(parts[-1])
        if suffix in ARCHIVE_EXTENSIONS:
            nested.append({"file": info.filename, "reason": "an archive inside the zip"})
            continue
        if info.flag_bits & 0x1:
            encrypted.append({"file": info.filename, "reason": "encrypted"})
            continue
        candidates.append((info, parts))
    for kind, found in (("outside the folder (path traversal)", unsafe),
                        ("symbolic links", links), ("archives inside the zip", nested),
                        ("encrypted", encrypted)):
        if found:
            raise refusal(kind, found)
    if expanded > limits.expanded_bytes:
        raise ZipTooLarge(f"the zip's files expand to {expanded} bytes, over the limit of "
                          f"{limits.expanded_bytes} bytes (CNNPG_MAX_DATASET_EXPANDED_BYTES)")
    # A zip of the folder that holds the class folders: its name is not a class (a README
    # beside the class folders is then not in a class folder, and is reported so).
    images = [p for _, p in candidates if _suffix(p[-1]) in IMAGE_EXTENSIONS]
    while images and all(len(p) >= 3 for p in images) and len({p[0] for p in images}) == 1:
        top = images[0][0]
        images = [p[1:] for p in images]
        candidates = [(info, p[1:] if p[0] == top and len(p) > 1 else p) for info, p in candidates]
    bad: list[dict[str, str]] = []
    by_class: dict[str, list[zipfile.ZipInfo]] = {}
    for info, parts in candidates:
        suffix = _suffix(parts[-1])
        if len(parts) < 2:
            bad.append({"file": info.filename, "reason": "not in a class folder"})
        elif suffix not in IMAGE_EXTENSIONS:
            bad.append({"file": info.filename, "reason": f"not an image ({suffix or 'no extension'}"
                        "; PNG, JPEG, WebP or GIF are read)"})
        elif info.file_size > limits.image_bytes:
            bad.append({"file": info.filename, "reason": f"{info.file_size} bytes, over the "
                        f"limit of {limits.image_bytes} bytes (CNNPG_MAX_UPLOAD_BYTES)"})
        else:
            by_class.setdefault(unicodedata.normalize("NFC", parts[0]), []).append(info)
    if bad and options.on_bad_file == "refuse":
        raise refusal("not images of a class (refused, as asked: on_bad_file=refuse)", bad,
                      reasons=True)
    if not by_class:
        raise DatasetRefused("the zip holds no images in class folders: put each class's "
                             "images in a folder named after the class (cats/001.jpg, "
                             "dogs/001.jpg, …)", bad)
    check_classes(list(by_class), limits)
    class_names = sorted(by_class)
    members = [Member(info, i) for i, c in enumerate(class_names) for info in by_class[c]]
    plan = ZipPlan(class_names, members, bad, ignored, expanded)
    check_counts(plan.class_names, plan.counts(), options, limits)
    return plan


def check_classes(names: list[str], limits: UploadLimits) -> None:
    problems = [p for p in map(_check_class_name, names) if p]
    if problems:
        raise DatasetRefused("; ".join(problems[:LISTED]))
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(_class_key(name), []).append(name)
    clashes = [sorted(g) for g in groups.values() if len(g) > 1]
    if clashes:
        listed = "; ".join(" and ".join(repr(n) for n in g) for g in clashes[:LISTED])
        raise DatasetRefused(f"class folders whose names differ only in case: {listed}; "
                             "rename or merge them")
    if len(names) < 2:
        raise DatasetRefused(f"the zip has one class folder ({names[0]!r}); a classifier needs "
                             "at least two classes, each in its own folder")
    if len(names) > limits.classes:
        raise DatasetRefused(f"the zip has {len(names)} class folders, over the limit of "
                             f"{limits.classes} (CNNPG_MAX_DATASET_CLASSES)")


def check_counts(class_names: list[str], counts: list[int], options: DatasetOptions,
                 limits: UploadLimits) -> None:
    total = sum(counts)
    if total > limits.images:
        raise DatasetRefused(f"the zip has {total} images, over the limit of {limits.images} "
                             "(CNNPG_MAX_DATASET_IMAGES)")
    need = min_per_class(options.test_fraction)
    few = [f"{name!r} has {n}" for name, n in zip(class_names, counts, strict=True) if n < need]
    if few:
        raise DatasetRefused(f"too few images to split: {', '.join(few[:LISTED])}; with a test "
                             f"fraction of {options.test_fraction:g} each class needs at least "
                             f"{need} (one or more for training and for testing)")


class BadImage(ValueError):
    """One member that is not an image this dataset can use; the message says why."""


def decode_image(data: bytes, options: DatasetOptions, max_pixels: int) -> np.ndarray:
    """A member's bytes → (size, size, channels) uint8, fitted as the options say."""
    try:
        img = Image.open(io.BytesIO(data))  # the header only
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise BadImage("not an image Pillow can read") from exc
    if img.format not in ALLOWED_FORMATS:
        raise BadImage(f"a {img.format} image; PNG, JPEG, WebP or GIF are read")
    width, height = img.size
    if width * height > max_pixels:
        raise BadImage(f"{width}×{height} = {width * height} pixels, over the limit of "
                       f"{max_pixels} (CNNPG_MAX_IMAGE_PIXELS)")
    size, mode = options.image_size, ("L" if options.channels == 1 else "RGB")
    try:
        draft_for(img, size, size, mode)
        img.load()
        upright = flatten_alpha(ImageOps.exif_transpose(img)).convert(mode)
    except Exception as exc:  # whatever a malformed file makes a decoder (or its EXIF) raise
        raise BadImage(f"truncated or corrupt ({exc or type(exc).__name__})") from exc
    arr = np.asarray(fit_image(upright, size, size, options.fit), dtype=np.uint8)
    return arr.reshape(size, size, options.channels)


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


def read_images(path: Path, plan: ZipPlan, options: DatasetOptions, limits: UploadLimits,
                progress: Progress | None = None) -> tuple[np.ndarray, np.ndarray,
                                                          list[dict[str, str]]]:
    """Decode every planned member: (images, labels, files skipped and why)."""
    n = len(plan.members)
    size, channels = options.image_size, options.channels
    images = np.empty((n, size, size, channels), np.uint8)
    labels = np.empty(n, np.int64)
    kept = 0
    skipped: list[dict[str, str]] = []
    expanded = 0
    with zipfile.ZipFile(path) as zf:
        for i, member in enumerate(plan.members):
            if progress is not None:
                progress("decoding", i, n)
            try:
                # zipfile stops at the declared size and checks the CRC: a member cannot
                # expand past what the directory (already checked) says.
                with zf.open(member.info) as f:
                    data = f.read(member.info.file_size + 1)
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError,
                    OSError, ValueError) as exc:
                skipped.append({"file": member.name, "reason": f"cannot be read from the zip "
                                f"({exc})"})
                continue
            expanded += len(data)
            if expanded > limits.expanded_bytes:
                raise ZipTooLarge(f"the zip's files expand past the limit of "
                                  f"{limits.expanded_bytes} bytes "
                                  "(CNNPG_MAX_DATASET_EXPANDED_BYTES)")
            try:
                images[kept] = decode_image(data, options, limits.image_pixels)
            except BadImage as exc:
                skipped.append({"file": member.name, "reason": str(exc)})
                continue
            labels[kept] = member.class_index
            kept += 1
    if progress is not None:
        progress("decoding", n, n)
    if skipped and options.on_bad_file == "refuse":
        raise refusal("not images that can be read (refused, as asked: on_bad_file=refuse)",
                      skipped, reasons=True)
    return images[:kept], labels[:kept], skipped


def split(images: np.ndarray, labels: np.ndarray, n_classes: int, test_fraction: float,
          seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test, stratified (each class split by the same fraction) and seeded, each
    shuffled: Keras' validation_split takes the last images, which must not be one class."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c in range(n_classes):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = held_out(len(idx), test_fraction)
        test.append(idx[:k])
        train.append(idx[k:])
    tr = rng.permutation(np.concatenate(train))
    te = rng.permutation(np.concatenate(test))
    return images[tr], labels[tr], images[te], labels[te]


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
