"""Content-addressed files in Django's default storage: raw messages and attachment bytes.

A file's name is derived from the SHA-256 of its content (`raw/ab/cd/<sha>.eml`),
so it is written once and never changes; writing it again is a no-op.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

from deskmail.core.errors import StorageFull


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_name(digest: str) -> str:
    return f"raw/{digest[:2]}/{digest[2:4]}/{digest}.eml"


def blob_name(digest: str) -> str:
    return f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"


def _write_once(name: str, data: bytes) -> None:
    if isinstance(default_storage, FileSystemStorage):
        _write_file_once(Path(default_storage.path(name)), data)
        return
    if default_storage.exists(name):
        return
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        # Another writer stored the same content meanwhile; keep theirs.
        default_storage.delete(saved)


def _write_file_once(path: Path, data: bytes) -> None:
    """Write to a temporary name, then rename: a crash never leaves a truncated file
    under a content address (which would then be trusted as written)."""
    if path.exists():
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        try:
            handle = temporary.open("wb")
        except FileNotFoundError:
            # The folder is made only when missing: a mkdir per file costs as much as the write.
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = temporary.open("wb")
        with handle:
            handle.write(data)
        mode = settings.FILE_UPLOAD_PERMISSIONS
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(
                exc.errno, f"the data folder is full: no room to write {path.parent}"
            ) from exc
        raise


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
