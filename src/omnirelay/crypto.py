"""Channel secrets are encrypted at rest with a key from the environment or a key file."""

from __future__ import annotations

import os
from pathlib import Path

from omnirelay.fernet import InvalidToken, fernet, generate_key

OPENED_KEPT = 10_000


class SecretBox:
    """Encrypts and decrypts channel secrets (Fernet: AES-128-CBC with HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._fernet = fernet(key)
        # Ciphertext -> secret: every reload of the channels decrypted every secret again
        # (~0.1 ms of CPU each, on the event loop). A ciphertext always decrypts to the same
        # secret, and the secrets are held in memory by the channels anyway.
        self._opened: dict[str, str] = {}

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        found = self._opened.get(token)
        if found is not None:
            return found
        try:
            secret = self._fernet.decrypt(token.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError(
                "a channel secret cannot be decrypted: OMNIRELAY_SECRET_KEY or "
                "data/secret.key is not the key it was stored with"
            ) from exc
        if len(self._opened) >= OPENED_KEPT:
            self._opened.clear()  # old ciphertexts (rotated secrets) do not pile up
        self._opened[token] = secret
        return secret


def load_secret_box(env_key: str | None, data_dir: Path) -> SecretBox:
    """Use ``OMNIRELAY_SECRET_KEY`` if given, else a key file generated once under data/."""
    if env_key:
        return SecretBox(env_key.encode("ascii"))
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(generate_key())
        try:
            # link() fails if another process won the race; its key then stands.
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return SecretBox(path.read_bytes().strip())
