"""Fernet tokens through libcrypto (``omnirelay.fernet``) are the cryptography package's tokens:
each decrypts the other's, and both refuse what was altered or made with another key."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as PackageInvalidToken

from omnirelay.crypto import SecretBox
from omnirelay.fernet import InvalidToken, OpenSSLFernet, fernet, generate_key

SECRETS = [b"", b"sk-" + b"x" * 13, b"k" * 16, b"\x00\xff" * 100, "clé ✓".encode()]


def test_the_interpreters_libcrypto_is_used_here() -> None:
    # Else every other test below compares the package with itself.
    assert isinstance(fernet(generate_key()), OpenSSLFernet)


@pytest.mark.parametrize("secret", SECRETS)
def test_tokens_go_both_ways_with_the_package(secret: bytes) -> None:
    key = generate_key()
    ours, theirs = fernet(key), Fernet(key)
    assert theirs.decrypt(ours.encrypt(secret)) == secret
    assert ours.decrypt(theirs.encrypt(secret)) == secret
    assert fernet(key, use_openssl=False).decrypt(ours.encrypt(secret)) == secret


def _flip(token: bytes, index: int) -> bytes:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw))


@pytest.mark.parametrize("use_openssl", [True, False])
def test_altered_truncated_or_foreign_tokens_are_refused(use_openssl: bool) -> None:
    key = generate_key()
    box = fernet(key, use_openssl=use_openssl)
    token = Fernet(key).encrypt(b"channel secret")
    size = len(base64.urlsafe_b64decode(token))
    for index in (0, 1, 9, 25, size - 40, size - 1):  # version, time, IV, body, signature
        with pytest.raises(InvalidToken):
            box.decrypt(_flip(token, index))
    raw = base64.urlsafe_b64decode(token)
    for broken in (
        base64.urlsafe_b64encode(raw[:-1]),
        base64.urlsafe_b64encode(raw[:-33] + raw[-32:]),
        b"not base64!",
        b"",
        Fernet(Fernet.generate_key()).encrypt(b"channel secret"),
    ):
        with pytest.raises(InvalidToken):
            box.decrypt(broken)
    with pytest.raises(PackageInvalidToken):
        Fernet(key).decrypt(_flip(box.encrypt(b"x"), 30))


def test_a_signed_token_with_bad_padding_is_refused() -> None:
    # Signed with the right key but padded wrongly (a last byte of 0): only a broken
    # encrypter makes one, and it must not decrypt to anything.
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = generate_key()
    raw, iv = base64.urlsafe_b64decode(key), bytes(range(16))
    aes = Cipher(algorithms.AES(raw[16:]), modes.CBC(iv)).encryptor()
    body = b"\x80" + bytes(8) + iv + aes.update(b"a" * 16 + bytes(16)) + aes.finalize()
    mac = hmac.new(raw[:16], body, hashlib.sha256).digest()
    for use_openssl in (True, False):
        with pytest.raises(InvalidToken):
            fernet(key, use_openssl=use_openssl).decrypt(base64.urlsafe_b64encode(body + mac))


def test_bad_keys_are_refused_like_the_package_does() -> None:
    for key in (b"short", base64.urlsafe_b64encode(b"x" * 31), b"!" * 44):
        with pytest.raises(ValueError):
            fernet(key)
        with pytest.raises(ValueError):
            Fernet(key)


def test_the_secret_box_names_the_key_when_it_cannot_decrypt() -> None:
    token = SecretBox(generate_key()).encrypt("sk-upstream")
    with pytest.raises(ValueError, match="not the key it was stored with"):
        SecretBox(generate_key()).decrypt(token)
    key = generate_key()
    assert SecretBox(key).decrypt(SecretBox(key).encrypt("sk-upstream")) == "sk-upstream"
