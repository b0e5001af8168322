"""A resident's code token: what their phone shows as a QR code and a venue's scanner reads.

`<resident id>-<mac>`: the mac is an HMAC of the id under the server's secret key (Django's
`salted_hmac`, its own salt), so that a token cannot be made up or altered, and checking one
costs a hash and one lookup by primary key. It carries no personal data. Rotating SECRET_KEY
(with the old key in SECRET_KEY_FALLBACKS) keeps old tokens readable until the fallback goes.
"""

from __future__ import annotations

import base64

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "bastion.codes.token"
MAC_BYTES = 10  # 80 bits: 16 characters of base32


def _mac(resident_id: int, secret: str) -> str:
    digest = salted_hmac(SALT, str(resident_id), secret=secret, algorithm="sha256").digest()
    return base64.b32encode(digest[:MAC_BYTES]).decode("ascii").lower()


def token_for(resident_id: int) -> str:
    return f"{resident_id}-{_mac(resident_id, settings.SECRET_KEY)}"


def resident_of(token: str) -> int | None:
    """The resident a token names, or None for a token that is not one of ours."""
    head, _sep, mac = token.strip().partition("-")
    if not (head.isascii() and head.isdigit()) or len(head) > 19 or len(mac) != 16:
        return None
    resident_id = int(head)
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])):
        if constant_time_compare(mac, _mac(resident_id, secret)):
            return resident_id
    return None
