"""Encryption at rest: the workspace key, its derivation, and sealed files.

An encrypted workspace keeps three kinds of data unreadable without its key:

* the DuckDB file and its write-ahead log, encrypted by DuckDB itself (AES-256-GCM, DuckDB
  1.4+ storage encryption; written through the httpfs extension's OpenSSL module, which
  :mod:`analytics.store` loads from the ``duckdb-extension-httpfs`` package, offline);
* the stored originals of ingested files (``files/``) and red-team answer keys, sealed here
  with AES-256-GCM in the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár,
  "Online authenticated-encryption and its nonce-reuse misuse-resistance" (CRYPTO 2015):
  the file is cut into 1 MiB chunks, chunk *i* is encrypted under a per-file key with the
  nonce ``i || last-flag``, so reordering, dropping or truncating chunks fails
  authentication;
* the names of stored files, which are an HMAC of the content hash instead of the hash
  itself (a plaintext SHA-256 would let anyone confirm a guessed file).

The key is a secret string from ``CROWDTRUST_KEY`` or ``--key-file`` and is never written to
the workspace. It is stretched with Argon2id (RFC 9106) using the salt and cost recorded in
``<workspace>/encryption.json`` (which holds no secret), and HKDF-SHA256 (RFC 5869) splits
the result into independent keys for DuckDB, for files and for file names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics.errors import UserError

ENV_KEY = "CROWDTRUST_KEY"
ENV_NEW_KEY = "CROWDTRUST_NEW_KEY"
SIDECAR = "encryption.json"
MIN_KEY_CHARS = 16
MAGIC = b"CTSEAL1\n"
CHUNK = 1 << 20
TAG = 16

#: Argon2id cost of turning the key into key material (RFC 9106's second recommended option).
KDF_PARAMS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}


class EncryptionKeyError(UserError):
    """The key is missing, malformed or wrong for this workspace."""


@dataclass(frozen=True)
class Secret:
    """A workspace key as the user gave it (kept in memory only)."""

    value: str
    source: str             #: where it came from, for messages: "CROWDTRUST_KEY" or the file name

    def __repr__(self) -> str:          # never print the key
        return f"Secret(source={self.source!r})"


def check_secret(value: str, source: str) -> Secret:
    value = value.strip()
    if not value:
        raise EncryptionKeyError(f"the key in {source} is empty; put a long random string there "
                        "(e.g. the output of `openssl rand -hex 32`)")
    if len(value) < MIN_KEY_CHARS:
        raise EncryptionKeyError(f"the key in {source} has {len(value)} characters; use at least {MIN_KEY_CHARS} "
                        "(e.g. the output of `openssl rand -hex 32`)")
    return Secret(value, source)


def secret_from_file(path: str | os.PathLike) -> Secret:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EncryptionKeyError(f"key file {p} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionKeyError(f"cannot read key file {p}: {exc}") from None
    return check_secret(text, f"key file {p.name}")


def secret_from_env(var: str = ENV_KEY) -> Secret | None:
    value = os.environ.get(var)
    return check_secret(value, var) if value else None


# -- the sidecar: salt and cost, no secret -----------------------------------------------------

def sidecar_path(root: Path) -> Path:
    return Path(root) / SIDECAR


def is_encrypted(root: Path) -> bool:
    return sidecar_path(root).exists()


def read_sidecar(root: Path) -> dict:
    p = sidecar_path(root)
    try:
        doc = json.loads(p.read_text())
        bytes.fromhex(doc["salt"])
        dict(doc["kdf_params"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{p} is damaged: it must hold the salt of the workspace key; restore it from a backup") \
            from None
    return doc


def new_sidecar_doc() -> dict:
    return {"format": "crowdtrust-encryption", "version": 1, "cipher": "AES-256-GCM", "kdf": "argon2id",
            "kdf_params": dict(KDF_PARAMS), "salt": secrets.token_hex(16),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}


def write_sidecar(root: Path, doc: dict) -> None:
    p = sidecar_path(root)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, p)


# -- key material ------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyMaterial:
    """Independent keys derived from one workspace key and salt."""

    db_key: str             #: the ENCRYPTION_KEY given to DuckDB (hex of 32 derived bytes)
    file_key: bytes         #: seals stored files
    name_key: bytes         #: names stored files
    key_id: str             #: a short public fingerprint, to tell two keys apart in one process


_CACHE: dict[tuple[str, str, str], KeyMaterial] = {}
_CACHE_LOCK = threading.Lock()


def _hkdf(master: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(master)


def derive(secret: Secret, sidecar: dict) -> KeyMaterial:
    """Argon2id(key, salt) split by HKDF; cached per process (the stretch costs about half a second)."""
    from argon2.low_level import Type, hash_secret_raw

    salt = sidecar["salt"]
    params = dict(sidecar["kdf_params"])
    cache_key = (hashlib.sha256(secret.value.encode()).hexdigest(), salt, json.dumps(params, sort_keys=True))
    with _CACHE_LOCK:
        hit = _CACHE.get(cache_key)
    if hit is not None:
        return hit
    master = hash_secret_raw(secret.value.encode("utf-8"), bytes.fromhex(salt), hash_len=32, type=Type.ID,
                             time_cost=int(params["time_cost"]), memory_cost=int(params["memory_cost"]),
                             parallelism=int(params["parallelism"]))
    km = KeyMaterial(db_key=_hkdf(master, b"crowdtrust duckdb").hex(), file_key=_hkdf(master, b"crowdtrust files"),
                     name_key=_hkdf(master, b"crowdtrust names"), key_id=_hkdf(master, b"crowdtrust id")[:8].hex())
    with _CACHE_LOCK:
        _CACHE[cache_key] = km
    return km


# -- sealed files ----------------------------------------------------------------------------------

class Sealer:
    """Seals and opens files of one encrypted workspace (AES-256-GCM, chunked STREAM)."""

    def __init__(self, km: KeyMaterial):
        self._km = km

    @property
    def key_id(self) -> str:
        return self._km.key_id

    def stored_name(self, sha256_hex: str) -> str:
        """The file name of a stored original: HMAC-SHA256 of its content hash."""
        return hmac.new(self._km.name_key, sha256_hex.encode(), hashlib.sha256).hexdigest()

    def _cipher(self, salt: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(_hkdf(self._km.file_key, b"crowdtrust file", salt))

    @staticmethod
    def _nonce(i: int, last: bool) -> bytes:
        return i.to_bytes(11, "big") + (b"\x01" if last else b"\x00")

    def seal_stream(self, chunks, out) -> None:
        """Write the sealed form of an iterable of plaintext byte chunks to the binary file ``out``."""
        salt = secrets.token_bytes(16)
        header = MAGIC + salt + CHUNK.to_bytes(4, "big")
        aead = self._cipher(salt)
        out.write(header)
        buf = b""
        i = 0
        for piece in chunks:
            buf += piece
            while len(buf) > CHUNK:              # keep at least one byte back: the last chunk is flagged
                out.write(aead.encrypt(self._nonce(i, False), buf[:CHUNK], header))
                buf = buf[CHUNK:]
                i += 1
        out.write(aead.encrypt(self._nonce(i, True), buf, header))

    def open_stream(self, src, where: str):
        """Yield the plaintext chunks of the sealed binary file object ``src``."""
        from cryptography.exceptions import InvalidTag

        header = src.read(len(MAGIC) + 20)
        if len(header) < len(MAGIC) + 20 or not header.startswith(MAGIC):
            raise UserError(f"{where} is not a sealed CrowdTrust file")
        salt, size = header[len(MAGIC):len(MAGIC) + 16], int.from_bytes(header[-4:], "big")
        aead = self._cipher(salt)
        block = src.read(size + TAG)
        i = 0
        while True:
            nxt = src.read(size + TAG)
            try:
                yield aead.decrypt(self._nonce(i, not nxt), block, header)
            except InvalidTag:
                raise EncryptionKeyError(f"{where} cannot be decrypted: the key is wrong or the file was altered or "
                                "truncated") from None
            if not nxt:
                return
            block, i = nxt, i + 1

    def seal_bytes(self, data: bytes) -> bytes:
        import io

        out = io.BytesIO()
        self.seal_stream([data], out)
        return out.getvalue()

    def open_bytes(self, blob: bytes, where: str = "sealed data") -> bytes:
        import io

        return b"".join(self.open_stream(io.BytesIO(blob), where))

    def open_file(self, path: str | os.PathLike) -> bytes:
        with open(path, "rb") as src:
            return b"".join(self.open_stream(src, str(path)))


def write_private(path: Path, data: bytes, sealer: Sealer | None) -> None:
    """Write a workspace file that may hold project data: sealed when the workspace is encrypted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(sealer.seal_bytes(data) if sealer is not None else data)
    os.replace(tmp, path)


def read_private(path: Path, sealer: Sealer | None) -> bytes:
    """Read a file written by :func:`write_private`."""
    data = path.read_bytes()
    if sealer is None:
        if data.startswith(MAGIC):
            raise EncryptionKeyError(f"{path} is encrypted; open the workspace with its key (CROWDTRUST_KEY or --key-file)")
        return data
    return sealer.open_bytes(data, str(path))
