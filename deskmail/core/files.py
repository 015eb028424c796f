"""Writing a content-addressed file once, safely: no Django here, so a parsing process
(which runs nothing but the parser) can store a message's raw bytes as it reads them."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from deskmail.core.errors import StorageFull


def write_file_once(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write to a temporary name, then rename: a crash never leaves a truncated file
    under a content address (which would then be trusted as written).

    A file already there is left alone: its name says what it holds. `mode` is
    the permission bits to give a new file (Django's FILE_UPLOAD_PERMISSIONS).
    """
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
