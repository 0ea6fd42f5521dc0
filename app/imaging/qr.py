"""QR codes of links, as SVG (segno), for a projector: students scan what the teacher shows."""

from __future__ import annotations

import io

import segno

MAX_QR_TEXT = 2048  # bytes a QR code holds comfortably at medium error correction


def qr_svg(text: str, title: str = "QR code of the link") -> bytes:
    """A QR code of `text` as an SVG that scales to any size (a viewBox, no fixed size),
    black on white with the standard quiet zone, so phones read it off a wall."""
    code = segno.make(text, error="m", micro=False)
    buf = io.BytesIO()
    code.save(buf, kind="svg", scale=1, border=4, dark="#000", light="#fff", xmldecl=False,
              omitsize=True, title=title, svgclass=None, lineclass=None)
    return buf.getvalue()
