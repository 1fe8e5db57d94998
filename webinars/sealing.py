"""Secrets at rest: sealed with Fernet under a key derived from SECRET_KEY.

Each use has its own `purpose`, so a webhook secret's key never opens a platform credential.
Rotating SECRET_KEY makes sealed values unreadable: they are then made anew (a webhook's
"rotate secret"), never guessed.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class Unsealable(Exception):
    """The value was sealed under another SECRET_KEY or purpose, or was altered."""


def fernet(secret_key: str, purpose: str) -> Fernet:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"webinars-sealing-v1",
                info=purpose.encode())
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())))


def seal(secret_key: str, purpose: str, plaintext: str) -> str:
    return fernet(secret_key, purpose).encrypt(plaintext.encode()).decode("ascii")


def unseal(secret_key: str, purpose: str, sealed: str) -> str:
    try:
        return fernet(secret_key, purpose).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError) as exc:
        raise Unsealable(f"cannot open a sealed {purpose}") from exc
