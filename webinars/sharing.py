"""What helps organizers pass an event on: its address as a QR code."""

from __future__ import annotations

import io

import segno

#: Pixels the page shows the code at; the SVG scales, so print stays sharp.
QR_SIZE = 176


def qr_svg(url: str) -> bytes:
    """An SVG QR code of `url`, with medium error correction so a printed copy survives wear."""
    code = segno.make(url, error="m", micro=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True,
              title=url, unit=None, dark="#000", light="#fff")
    return out.getvalue()
