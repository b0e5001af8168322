"""QR codes for what a phone shows to be scanned (a resident's health code): segno's inline SVG,
which carries no style attribute (the console's Content-Security-Policy allows none)."""

from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(text: str, *, scale: int = 5) -> SafeString:
    """`text` as an inline SVG QR code, error correction M (a scratched phone screen still
    scans). The SVG is segno's own markup of a matrix computed from `text`: nothing of `text` is
    written into it as markup."""
    return mark_safe(segno.make(text, error="m").svg_inline(scale=scale, border=2, title=None))  # noqa: S308
