"""The checks that need only a dataset zip's directory, before anything is expanded.

`inspect_zip` refuses what must never be expanded (a zip over its size, a directory of
millions of entries, path traversal, symbolic links, nested archives, encrypted members,
declared sizes that expand past the limit: a zip bomb) and what cannot make a dataset (no
images in class folders, one class or too many, class names blank, too long, with control
characters or differing only in case, a class too small to split); otherwise it returns the
plan: the classes and the image members to decode, with the files skipped and why.
"""

from __future__ import annotations

import posixpath
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.datasets.uploads.options import DatasetOptions, UploadLimits
from app.datasets.uploads.refusals import LISTED, DatasetRefused, ZipTooLarge, refusal
from app.datasets.uploads.stratified_split import min_per_class

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".gif"})
ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".gz", ".tgz", ".bz2", ".tbz", ".xz", ".txz",
                                ".7z", ".rar", ".zst", ".lz", ".lzma", ".z", ".cab", ".jar",
                                ".war", ".iso", ".cpio", ".arj"})
# What operating systems add to folders and zips: ignored without a word.
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__macosx"})
MAX_CLASS_NAME = 64

# The members that refuse the whole zip, by kind, in the order they are reported.
TRAVERSAL = "outside the folder (path traversal)"
LINKS = "symbolic links"
NESTED = "archives inside the zip"
ENCRYPTED = "encrypted"


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


Candidate = tuple[zipfile.ZipInfo, list[str]]  # a member that may be an image, its path's parts


@dataclass
class SortedMembers:
    """The zip's members sorted by their directory entries alone: those that refuse the
    whole zip (by kind), those ignored (folders, system files), and the candidates for a
    class; `expanded` is what all but the ignored declare they expand to."""

    refused: dict[str, list[dict[str, str]]] = field(
        default_factory=lambda: {TRAVERSAL: [], LINKS: [], NESTED: [], ENCRYPTED: []})
    candidates: list[Candidate] = field(default_factory=list)
    expanded: int = 0
    ignored: int = 0

    def refuse(self, kind: str, info: zipfile.ZipInfo, reason: str) -> None:
        self.refused[kind].append({"file": info.filename, "reason": reason})


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


def read_directory(path: Path, limits: UploadLimits) -> list[zipfile.ZipInfo]:
    """The zip's directory, refused unread when the file is over its size limit, empty, not
    a zip, or declares far more entries than a dataset may hold."""
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
            return zf.infolist()
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
        raise DatasetRefused(f"not a zip file that can be read ({exc})") from None


def sort_members(infos: list[zipfile.ZipInfo]) -> SortedMembers:
    """Each member refused (traversal, link, nested archive, encrypted), ignored, or kept
    as a candidate with its path's parts; the first fault found is the one reported."""
    found = SortedMembers()
    for info in infos:
        name = info.filename.replace("\\", "/")
        if _unsafe_path(name):
            found.refuse(TRAVERSAL, info, "its path leaves the folder (absolute, or with '..')")
            continue
        if _is_symlink(info):
            found.refuse(LINKS, info, "a symbolic link")
            continue
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if info.is_dir() or not parts or _is_system_file(parts):
            found.ignored += 1
            continue
        found.expanded += info.file_size
        if _suffix(parts[-1]) in ARCHIVE_EXTENSIONS:
            found.refuse(NESTED, info, "an archive inside the zip")
        elif info.flag_bits & 0x1:
            found.refuse(ENCRYPTED, info, "encrypted")
        else:
            found.candidates.append((info, parts))
    return found


def check_safe(found: SortedMembers, limits: UploadLimits) -> None:
    """Refuse the zip for its first kind of hostile member, then for what its members
    declare they expand to (a zip bomb)."""
    for kind, files in found.refused.items():
        if files:
            raise refusal(kind, files)
    if found.expanded > limits.expanded_bytes:
        raise ZipTooLarge(f"the zip's files expand to {found.expanded} bytes, over the limit of "
                          f"{limits.expanded_bytes} bytes (CNNPG_MAX_DATASET_EXPANDED_BYTES)")


def without_enclosing_folders(candidates: list[Candidate]) -> list[Candidate]:
    """A zip of the folder that holds the class folders: its name is not a class (a README
    beside the class folders is then not in a class folder, and is reported so)."""
    images = [p for _, p in candidates if _suffix(p[-1]) in IMAGE_EXTENSIONS]
    while images and all(len(p) >= 3 for p in images) and len({p[0] for p in images}) == 1:
        top = images[0][0]
        images = [p[1:] for p in images]
        candidates = [(info, p[1:] if p[0] == top and len(p) > 1 else p) for info, p in candidates]
    return candidates


def _not_an_image(info: zipfile.ZipInfo, parts: list[str], limits: UploadLimits) -> str | None:
    """Why a candidate is not an image of a class, or None."""
    suffix = _suffix(parts[-1])
    if len(parts) < 2:
        return "not in a class folder"
    if suffix not in IMAGE_EXTENSIONS:
        return f"not an image ({suffix or 'no extension'}; PNG, JPEG, WebP or GIF are read)"
    if info.file_size > limits.image_bytes:
        return (f"{info.file_size} bytes, over the limit of {limits.image_bytes} bytes "
                "(CNNPG_MAX_UPLOAD_BYTES)")
    return None


def group_by_class(candidates: list[Candidate], limits: UploadLimits
                   ) -> tuple[dict[str, list[zipfile.ZipInfo]], list[dict[str, str]]]:
    """The images by their class folder's name (NFC), and the candidates that are not
    images of a class, with why."""
    bad: list[dict[str, str]] = []
    by_class: dict[str, list[zipfile.ZipInfo]] = {}
    for info, parts in candidates:
        reason = _not_an_image(info, parts, limits)
        if reason is not None:
            bad.append({"file": info.filename, "reason": reason})
        else:
            by_class.setdefault(unicodedata.normalize("NFC", parts[0]), []).append(info)
    return by_class, bad


def inspect_zip(path: Path, limits: UploadLimits, options: DatasetOptions) -> ZipPlan:
    """Every check that needs only the zip's directory; raises DatasetRefused (422) or
    ZipTooLarge (413) naming the problem and the files, or returns the plan."""
    found = sort_members(read_directory(path, limits))
    check_safe(found, limits)
    by_class, bad = group_by_class(without_enclosing_folders(found.candidates), limits)
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
    plan = ZipPlan(class_names, members, bad, found.ignored, found.expanded)
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
