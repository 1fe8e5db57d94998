"""Passwords (argon2) and secret tokens (random, stored as SHA-256 where they grant access)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verifying against this keeps the time of a login with an unknown e-mail like a known one.
_dummy_hash = _hasher.hash("not a real password")


def use_hash_cost(time_cost: int, memory_kib: int) -> None:
    """The cost of new hashes (`PASSWORD_HASH_*`), set once by the runtime at start-up. A
    stored hash is verified with the cost written in it, so changing this locks nobody out."""
    global _hasher, _dummy_hash
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _dummy_hash = _hasher.hash("not a real password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def address_proof(secret: str, registration_token: str) -> str:
    """The part of a personal link that only the registration's e-mails carry.

    Whoever registers learns the registration token; only the mailbox also gets this proof, so
    opening a link that carries it shows the address is theirs. Derived, not stored: a new
    token (registering again) makes old proofs void.
    """
    mac = hmac.new(secret.encode(), b"address-proof:" + registration_token.encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii")[:22]


def proof_matches(secret: str, registration_token: str, proof: str) -> bool:
    return hmac.compare_digest(address_proof(secret, registration_token), proof)
