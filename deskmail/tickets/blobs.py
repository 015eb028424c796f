"""Content-addressed files in Django's default storage: raw messages and attachment bytes.

A file's name is derived from the SHA-256 of its content (`raw/ab/cd/<sha>.eml`),
so it is written once and never changes; writing it again is a no-op.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

from deskmail.core.files import write_file_once


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_name(digest: str) -> str:
    return f"raw/{digest[:2]}/{digest[2:4]}/{digest}.eml"


def blob_name(digest: str) -> str:
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def _write_once(name: str, data: bytes) -> None:
    path = local_path(name)
    if path is not None:
        write_file_once(path, data, settings.FILE_UPLOAD_PERMISSIONS)
        return
    if default_storage.exists(name):
        return
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        # Another writer stored the same content meanwhile; keep theirs.
        default_storage.delete(saved)


def local_path(name: str) -> Path | None:
    """The file behind a storage name when the storage is a local folder; else None."""
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.path(name))
    return None


def raw_path(digest: str) -> Path | None:
    """The raw message's file when the storage is a local folder (written or not)."""
    return local_path(raw_name(digest))


def store_raw(raw: bytes) -> str:
    """Store a raw message; returns its SHA-256."""
    digest = sha256(raw)
    _write_once(raw_name(digest), raw)
    return digest


def read_raw(digest: str) -> bytes:
    with default_storage.open(raw_name(digest), "rb") as handle:
        data: bytes = handle.read()
    return data


def store_blob(data: bytes) -> str:
    """Store attachment bytes; returns their SHA-256."""
    digest = sha256(data)
    _write_once(blob_name(digest), data)
    return digest
