"""Secrets at rest: AES-256-GCM with a key ring from settings.

Callers: the status service (webhook signing secrets in ``status.subscriptions``). A value that
the platform must read back in clear (to sign with it) is stored as a token::

    v1:<key id>:<base64url(12-byte nonce || ciphertext || 16-byte tag)>

The key ring is one setting, ``<id>:<base64 of 32 bytes>[,<id>:<key>...]``: the first key
encrypts, every listed key decrypts. Rotation: put a new key first and keep the old ones
after it; the service re-encrypts old tokens with the first key at start-up
(:meth:`SecretBox.needs_rotation`), after which the old key can be dropped.

The associated data binds a token to its row (e.g. the subscription id), so a token copied
into another row does not decrypt there.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["SecretBox", "SecretBoxError", "generate_key_ring"]

VERSION = "v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class SecretBoxError(ValueError):
    """A key ring that cannot be used, or a token that does not decrypt."""


def generate_key_ring(key_id: str = "k1") -> str:
    """A fresh key ring setting with one random key (``./dev`` writes one to the stack's env)."""
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


@dataclass(frozen=True)
class SecretBox:
    keys: dict[str, bytes]
    current: str

    @classmethod
    def from_setting(cls, ring: str) -> SecretBox:
        keys: dict[str, bytes] = {}
        current = ""
        for item in (i.strip() for i in ring.split(",")):
            if not item:
                continue
            key_id, sep, encoded = item.partition(":")
            if not sep or not _KEY_ID.match(key_id):
                raise SecretBoxError(
                    "each key is <id>:<base64 of 32 bytes>; the id is 1-32 of A-Z a-z 0-9 _ -"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except ValueError as exc:
                raise SecretBoxError(f"key {key_id} is not base64") from exc
            if len(key) != 32:
                raise SecretBoxError(f"key {key_id} has {len(key)} bytes; AES-256 needs 32")
            if key_id in keys:
                raise SecretBoxError(f"key id {key_id} is listed twice")
            keys[key_id] = key
            current = current or key_id
        if not keys:
            raise SecretBoxError("the key ring is empty")
        return cls(keys, current)

    def encrypt(self, plaintext: str, *, aad: bytes) -> str:
        nonce = os.urandom(12)  # random 96-bit nonces: safe far beyond the secrets we store
        sealed = AESGCM(self.keys[self.current]).encrypt(nonce, plaintext.encode(), aad)
        return f"{VERSION}:{self.current}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, aad: bytes) -> str:
        version, _, rest = token.partition(":")
        key_id, _, body = rest.partition(":")
        if version != VERSION or not body:
            raise SecretBoxError("not an encrypted secret token")
        key = self.keys.get(key_id)
        if key is None:
            raise SecretBoxError(f"secret was encrypted with key {key_id}, which is not in the key ring")
        try:
            raw = base64.urlsafe_b64decode(body)
            return AESGCM(key).decrypt(raw[:12], raw[12:], aad).decode()
        except (ValueError, InvalidTag) as exc:
            raise SecretBoxError(f"secret does not decrypt with key {key_id} (altered or moved)") from exc

    @staticmethod
    def is_token(value: str) -> bool:
        return value.startswith(VERSION + ":")

    def needs_rotation(self, token: str) -> bool:
        """True for a clear value or a token made with a key other than the current one."""
        return not self.is_token(token) or token.split(":", 2)[1] != self.current
