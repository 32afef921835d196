"""Fernet tokens (the spec: github.com/fernet/spec) through the OpenSSL the interpreter already
links for ``ssl``, or through the ``cryptography`` package where that OpenSSL is out of reach.

Why not always ``cryptography``: each serving process decrypts its channels' secrets at start,
and importing ``cryptography.fernet`` costs ~9.5 MB of RSS per process (its Rust extension and
its own OpenSSL), for a few AES blocks. The libcrypto that ``_ssl`` links is mapped anyway; its
EVP interface does the AES-128-CBC, the standard library does the rest (HMAC-SHA256, base64).
Tokens are the same bytes either way (tests check each against the other).

A token: ``0x80 | timestamp (8 bytes, big-endian) | IV (16) | AES-128-CBC ciphertext (PKCS#7)
| HMAC-SHA256 (32)`` over everything before it, base64url. The key is 32 bytes, base64url:
the signing key, then the encryption key. The HMAC is checked (in constant time) before
anything is decrypted.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import functools
import hashlib
import hmac
import os
import time
from typing import Protocol

VERSION = 0x80
_HEADER = 1 + 8 + 16
_MAC = 32
_BLOCK = 16


class InvalidToken(Exception):
    """The token is malformed, was altered, or was made with another key."""


class Cipher(Protocol):
    def encrypt(self, data: bytes) -> bytes: ...

    def decrypt(self, token: bytes) -> bytes: ...


def generate_key() -> bytes:
    return base64.urlsafe_b64encode(os.urandom(32))


class _EVP:
    """AES-128-CBC from libcrypto's EVP interface (OpenSSL 1.1 and 3 alike)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._new = lib.EVP_CIPHER_CTX_new
        self._new.restype = ctypes.c_void_p
        self._new.argtypes = []
        self._free = lib.EVP_CIPHER_CTX_free
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]
        cipher = lib.EVP_aes_128_cbc
        cipher.restype = ctypes.c_void_p
        cipher.argtypes = []
        self._cipher = cipher()
        self._init = lib.EVP_CipherInit_ex
        self._init.restype = ctypes.c_int
        self._init.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int]
        self._update = lib.EVP_CipherUpdate
        self._update.restype = ctypes.c_int
        self._update.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self._final = lib.EVP_CipherFinal_ex
        self._final.restype = ctypes.c_int
        self._final.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
        if not self._cipher:
            raise OSError("libcrypto has no AES-128-CBC")

    def run(self, key: bytes, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
        """PKCS#7 padding is OpenSSL's (added on encrypt, checked and removed on decrypt)."""
        ctx = self._new()
        if not ctx:
            raise MemoryError("EVP_CIPHER_CTX_new failed")
        try:
            if not self._init(ctx, self._cipher, None, key, iv, 1 if encrypt else 0):
                raise InvalidToken("AES-128-CBC could not start")
            out, last = (
                ctypes.create_string_buffer(len(data) + _BLOCK),
                ctypes.create_string_buffer(_BLOCK),
            )
            written, tail = ctypes.c_int(0), ctypes.c_int(0)
            if not self._update(ctx, out, ctypes.byref(written), data, len(data)):
                raise InvalidToken("AES-128-CBC failed")
            if not self._final(ctx, last, ctypes.byref(tail)):
                raise InvalidToken("bad padding")
            return out.raw[: written.value] + last.raw[: tail.value]
        finally:
            self._free(ctx)


class OpenSSLFernet:
    """Fernet over ``_EVP``: the token format above, nothing more (no TTL: not used here)."""

    def __init__(self, key: bytes, evp: _EVP) -> None:
        try:
            raw = base64.urlsafe_b64decode(key)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.") from exc
        if len(raw) != 32:
            raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")
        self._signing, self._encryption, self._evp = raw[:16], raw[16:], evp

    def encrypt(self, data: bytes) -> bytes:
        iv = os.urandom(16)
        ciphertext = self._evp.run(self._encryption, iv, data, encrypt=True)
        body = bytes([VERSION]) + int(time.time()).to_bytes(8, "big") + iv + ciphertext
        mac = hmac.new(self._signing, body, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(body + mac)

    def decrypt(self, token: bytes) -> bytes:
        try:
            data = base64.urlsafe_b64decode(token)
        except (binascii.Error, ValueError) as exc:
            raise InvalidToken("not base64url") from exc
        if len(data) < _HEADER + _BLOCK + _MAC or data[0] != VERSION:
            raise InvalidToken("not a Fernet token")
        if (len(data) - _HEADER - _MAC) % _BLOCK:
            raise InvalidToken("truncated")
        body, mac = data[:-_MAC], data[-_MAC:]
        if not hmac.compare_digest(hmac.new(self._signing, body, hashlib.sha256).digest(), mac):
            raise InvalidToken("the signature does not match")
        return self._evp.run(self._encryption, body[9:_HEADER], body[_HEADER:], encrypt=False)


class _Package:
    """The ``cryptography`` package's Fernet, its errors as ours."""

    def __init__(self, key: bytes) -> None:
        from cryptography.fernet import Fernet

        self._fernet = Fernet(key)

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        from cryptography.fernet import InvalidToken as PackageInvalidToken

        try:
            return self._fernet.decrypt(token)
        except PackageInvalidToken as exc:
            raise InvalidToken(str(exc)) from exc


@functools.cache
def _linked_evp() -> _EVP | None:
    """libcrypto as ``_ssl`` links it (dlsym on a handle searches its dependencies too)."""
    try:
        import _ssl

        return _EVP(ctypes.CDLL(_ssl.__file__))
    except (ImportError, AttributeError, OSError):  # no _ssl, a static build: the package
        return None


def fernet(key: bytes, *, use_openssl: bool = True) -> Cipher:
    evp = _linked_evp() if use_openssl else None
    return OpenSSLFernet(key, evp) if evp is not None else _Package(key)
