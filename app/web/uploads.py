"""Uploaded files, read with the size limit."""

from __future__ import annotations

from fastapi import Request, UploadFile

from app.errors import InvalidInput, TooLarge


async def read_upload(upload: UploadFile, limit: int, field: str = "file") -> bytes:
    """The file's bytes, refusing one over `limit` (CNNPG_MAX_UPLOAD_BYTES) without reading on."""
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(field, f"over the upload limit of {limit} bytes (CNNPG_MAX_UPLOAD_BYTES)")
    return raw


async def files_are_files(request: Request) -> None:
    """A text part named like a file field is a mistake, not an absent file: say so (FastAPI
    would treat it as no file at all)."""
    form = await request.form()
    for name, value in form.multi_items():
        if name == "file" and isinstance(value, str):
            raise InvalidInput("file", "must be a file part (with a filename), not text")
