"""Encryption at rest for personal data: optional, under a master key the user keeps.

Without a master key, the per-person secrets (`rl_keys`) and the plaintext values (`rl_private`)
are stored as they are, and `forget` erases them by deleting them. With one, each secret is
encrypted under a key derived from the master key, and each event's personal values under a
key derived from their owner's secret (AES-256-GCM, keys from HKDF-SHA-256). A stolen database
file then holds no personal data, and a forgotten person's values stay unreadable even where a
deleted row survives (a PostgreSQL dead tuple, a filesystem block), once the secret is gone.

A ledger is one or the other for its whole life: the first write fixes the mode in `rl_meta`,
with a check value that tells a wrong master key from the right one. The stored bytes say it
too (`secret_mode`, `data_mode`): a plaintext secret is 32 bytes and plaintext values a JSON
object, while everything encrypted starts with a version byte, so a deleted or rewritten meta
row cannot make a ledger that holds encrypted secrets take plaintext ones (see `Store`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from typing import Any

from .errors import LedgerError

MASTER_KEY_ENV = "REFERRAL_LEDGER_MASTER_KEY"
MASTER_KEY_FILE_ENV = "REFERRAL_LEDGER_MASTER_KEY_FILE"
# 64 hex digits and a newline; room for a comment line or CRLF, never a whole disk
MAX_KEY_FILE_BYTES = 4096

PLAINTEXT = "plaintext"
ENCRYPTED = "aes-256-gcm-v1"

_VERSION = b"\x01"  # first byte of every encrypted blob
_NONCE = 12
_TAG = 16
_SECRET_BYTES = 32  # privacy.SECRET_BYTES
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}\Z")
_CHECK_MESSAGE = b"referral-ledger master key check v1"
_NEEDS_KEY = (
    "this ledger's personal data is encrypted: give its master key "
    f"({MASTER_KEY_ENV}, {MASTER_KEY_FILE_ENV} or --master-key-file)"
)


class VaultError(LedgerError):
    """Personal data cannot be read or written: no master key, the wrong one, or altered bytes.

    Never a plugin's fault: the projection host lets it through instead of blaming a plugin.
    """


def parse_master_key(text: str, source: str) -> bytes:
    """A master key written as 64 hex digits (surrounding whitespace ignored)."""
    value = text.strip()
    if not _HEX64.match(value):
        raise LedgerError(f"{source}: a master key is 64 hex digits (32 random bytes)")
    return bytes.fromhex(value)


def master_key_from(
    key_file: str | None, environ: dict[str, str] | os._Environ[str] | None = None
) -> bytes | None:
    """The master key given by a key file (option or environment) or by the environment."""
    env = os.environ if environ is None else environ
    path = key_file or env.get(MASTER_KEY_FILE_ENV) or None
    if path:
        from .files import read_small_file

        data = read_small_file(path, MAX_KEY_FILE_BYTES, f"the master key file {path}")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise LedgerError(f"cannot read the master key file {path}: not ASCII") from None
        return parse_master_key(text, f"master key file {path}")
    value = env.get(MASTER_KEY_ENV)
    if value:
        return parse_master_key(value, MASTER_KEY_ENV)
    return None


def new_master_key() -> str:
    return secrets.token_hex(32)


def _hkdf(key: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


class Vault:
    """How secrets and personal values are kept in the database: as they are, or encrypted.

    `mode` is the ledger's; a vault in ENCRYPTED mode without a key can still read and write
    everything that is not personal data, and refuses the rest with a clear error.
    """

    def __init__(self, master_key: bytes | None):
        self.master_key = master_key
        self.mode = ENCRYPTED if master_key is not None else PLAINTEXT
        self._secret_key: Any = None
        self._data_keys: dict[bytes, Any] = {}

    @property
    def encrypted(self) -> bool:
        return self.mode == ENCRYPTED

    def check_value(self) -> str:
        assert self.master_key is not None
        return hmac.new(self.master_key, _CHECK_MESSAGE, hashlib.sha256).hexdigest()

    def adopt(self, mode: str, check: str | None) -> None:
        """Take on the mode the ledger was created with; refuse a key that does not fit it."""
        if mode == PLAINTEXT and self.master_key is not None:
            raise VaultError(
                "this ledger was created without a master key and stores personal data "
                "unencrypted; to encrypt it, export it and import the export into a new "
                "ledger with the key set"
            )
        # A missing check value is reported by `verify`, and the store takes no write without
        # it; reading goes on, and a wrong key then fails to open the secrets.
        if (
            mode == ENCRYPTED
            and self.master_key is not None
            and check is not None
            and check != self.check_value()
        ):
            raise VaultError("the master key given is not this ledger's master key")
        if mode not in (PLAINTEXT, ENCRYPTED):
            raise VaultError(
                f"this ledger keeps personal data as {mode!r}, unknown to this version"
            )
        self.mode = mode

    # -- per-person secrets, under the master key ---------------------------------------------

    def _master(self) -> Any:
        if self.master_key is None:
            raise VaultError(_NEEDS_KEY)
        if self._secret_key is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._secret_key = AESGCM(_hkdf(self.master_key, b"referral-ledger rl_keys v1"))
        return self._secret_key

    def seal_secret(self, handle: str, secret: bytes) -> bytes:
        if not self.encrypted:
            return secret
        return _encrypt(self._master(), secret, b"rl_keys\x1f" + handle.encode())

    def open_secret(self, handle: str, blob: bytes) -> bytes:
        if not self.encrypted:
            return blob
        return _decrypt(self._master(), blob, b"rl_keys\x1f" + handle.encode(), "a secret")

    # -- personal values, under their owner's secret -----------------------------------------

    def _data_key(self, secret: bytes) -> Any:
        key = self._data_keys.get(secret)
        if key is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            key = AESGCM(_hkdf(secret, b"referral-ledger rl_private v1"))
            self._data_keys[secret] = key
        return key

    def seal_data(self, secret: bytes | None, event_id: str, data: bytes) -> bytes:
        if not self.encrypted:
            return data
        if secret is None:
            raise VaultError(_NEEDS_KEY)
        return _encrypt(self._data_key(secret), data, b"rl_private\x1f" + event_id.encode())

    def open_data(self, secret: bytes | None, event_id: str, blob: bytes) -> bytes:
        if not self.encrypted:
            return blob
        if secret is None:
            raise VaultError(f"event {event_id!r}: its personal data has no key to open it")
        aad = b"rl_private\x1f" + event_id.encode()
        return _decrypt(self._data_key(secret), blob, aad, f"event {event_id!r}'s personal data")


def secret_mode(blob: bytes) -> str | None:
    """How a stored secret is kept, read from its bytes alone; None: in no way this writes."""
    if len(blob) == _SECRET_BYTES:
        return PLAINTEXT
    if len(blob) == 1 + _NONCE + _SECRET_BYTES + _TAG and blob[:1] == _VERSION:
        return ENCRYPTED
    return None


def data_mode(blob: bytes) -> str | None:
    """How stored personal values are kept, read from their bytes alone (`b""` holds none)."""
    if blob[:1] == b"{":
        return PLAINTEXT
    if blob[:1] == _VERSION and len(blob) >= 1 + _NONCE + _TAG:
        return ENCRYPTED
    return None


def _encrypt(aead: Any, data: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _VERSION + nonce + aead.encrypt(nonce, data, aad)


def _decrypt(aead: Any, blob: bytes, aad: bytes, what: str) -> bytes:
    from cryptography.exceptions import InvalidTag

    if blob[:1] != _VERSION or len(blob) < 1 + _NONCE + 16:
        raise VaultError(f"{what} is not stored encrypted, as this ledger's mode says it must be")
    try:
        return aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
    except InvalidTag:
        raise VaultError(f"{what} does not decrypt: altered, or moved from another row") from None
