"""Why a zip cannot become a dataset: the two errors every step raises (422 and 413), and
the one wording of a refusal that names the members at fault."""

from __future__ import annotations

from app.errors import InvalidInput, TooLarge

LISTED = 10  # files named in a refusal's message (the report lists them all)


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
