"""Personal data kept out of the hash chain, so it can be erased without breaking it.

Every personal value in an event (a name, an email, a note, ...) is replaced in the stored,
hashed event by a keyed commitment: HMAC-SHA-256 under a secret that belongs to the person the
value identifies. The plaintext values and the secrets live in tables of their own. Forgetting a
person deletes both; the commitments stay and reveal nothing once the secret is gone.
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import Any

from .errors import LedgerError
from .interchange import dumps

SECRET_BYTES = 32
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def commitment(secret: bytes, event_id: str, path: str, value: Any) -> str:
    message = event_id.encode() + b"\x1f" + path.encode() + b"\x1f" + dumps(value)
    # hmac.digest: the same HMAC in one C call, without building an hmac.HMAC object
    return hmac.digest(secret, message, "sha256").hex()


def is_commitment(value: Any) -> bool:
    return isinstance(value, dict) and "commitment" in value


def is_personal_value(value: Any) -> bool:
    # false, an empty list and an empty string are not data about anyone
    # (a tuple rather than `str | list`, which would be built anew at each call)
    return isinstance(value, (str, list)) and len(value) > 0


def personal_values(
    record: dict[str, Any], personal: tuple[str, ...], forgotten: dict[str, str]
) -> dict[str, Any]:
    """The personal values a record gives (those not erased), by path: what `seal` hides."""
    found: dict[str, Any] = {}
    for path in personal:
        if path not in forgotten:
            value = get_path(record, path)
            if is_personal_value(value):
                found[path] = value
    return found


def get_path(record: dict[str, Any], path: str) -> Any:
    if "." not in path:  # most paths: called several times for every event written
        return record.get(path)
    node: Any = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def with_path(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `record` with the value at `path` replaced; only the objects on the path are
    copied, so `record` itself is left as it was."""
    head, _, rest = path.partition(".")
    out = dict(record)
    out[head] = with_path(record[head], rest, value) if rest else value
    return out


def take_forgotten(
    raw: dict[str, Any], personal: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Pull `{"forgotten": hex}` placeholders out of an input event, for validation to pass.

    Returns the event with a stand-in in place of each placeholder (`raw` is left alone) and
    the commitments by path.
    """
    found: dict[str, str] = {}
    for path in personal:
        value = get_path(raw, path)
        if isinstance(value, dict):
            if set(value) != {"forgotten"} or not isinstance(value["forgotten"], str):
                raise LedgerError(f'{path}: an erased value is written {{"forgotten": "<hex>"}}')
            if not _HEX64.match(value["forgotten"]):
                raise LedgerError(f"{path}: 'forgotten' must be 64 lowercase hex digits")
            found[path] = value["forgotten"]
            # a stand-in every text validator accepts (an email too); sealing puts the
            # commitment back in its place
            raw = with_path(raw, path, [] if path == "preparation.questions" else "erased@erased")
    return raw, found


def seal(
    record: dict[str, Any],
    personal: tuple[str, ...],
    *,
    owner: str | None,
    secret: bytes | None,
    forgotten: dict[str, str],
    values: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Replace personal values by commitments. Returns (sealed record, plaintext by path);
    `record` itself is left as it was. `values` is `personal_values(record, personal,
    forgotten)` when the caller has it already (it is then the plaintext returned)."""
    private = personal_values(record, personal, forgotten) if values is None else values
    sealed = record
    if not private and not forgotten:
        return sealed, private  # nothing personal given: most events
    for path in personal:
        if path in forgotten:
            sealed = with_path(sealed, path, {"commitment": forgotten[path], "owner": owner})
        elif path in private:
            assert secret is not None and owner is not None
            value = commitment(secret, record["id"], path, private[path])
            sealed = with_path(sealed, path, {"commitment": value, "owner": owner})
    return sealed, private


def unseal(record: dict[str, Any], private: dict[str, Any] | None) -> dict[str, Any]:
    """The event with plaintext where it is still known, `{"forgotten": hex}` where not."""
    out = dict(record)
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = unseal_value(key, value, private)
    return out


def unseal_value(key: str, value: dict[str, Any], private: dict[str, Any] | None) -> Any:
    """`unseal` of one object a record holds at `key` (a copy; `value` is left as it was)."""
    if "commitment" in value:
        return _open(key, value, private)
    inner = dict(value)
    for sub, subvalue in value.items():
        if is_commitment(subvalue):
            inner[sub] = _open(f"{key}.{sub}", subvalue, private)
    return inner


def _open(path: str, sealed: dict[str, Any], private: dict[str, Any] | None) -> Any:
    if private is not None and path in private:
        return private[path]
    return {"forgotten": sealed["commitment"]}


def sealed_paths(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every (path, commitment object) in a stored record."""
    found = []
    for key, value in record.items():
        if isinstance(value, dict):
            if "commitment" in value:
                found.append((key, value))
            else:
                for sub, subvalue in value.items():
                    if is_commitment(subvalue):
                        found.append((f"{key}.{sub}", subvalue))
    return found


def parse_secret(handle: str, value: Any) -> bytes:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise LedgerError(f"keys.{handle}: must be 64 lowercase hex digits")
    return bytes.fromhex(value)
