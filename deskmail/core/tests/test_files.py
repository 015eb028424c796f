import errno
from pathlib import Path

import pytest

from deskmail.core.errors import StorageFull
from deskmail.core.files import write_file_once


def test_it_writes_a_file_once_with_the_mode_given(tmp_path):
    target = tmp_path / "raw" / "ab" / "cd" / "x.eml"
    write_file_once(target, b"mail", 0o640)
    write_file_once(target, b"other bytes under the same name are not written")
    assert target.read_bytes() == b"mail"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["x.eml"]


def test_it_says_the_data_folder_is_full_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "raw" / "ab" / "cd" / "x.eml"
    real_open = Path.open

    def full_disk(self, mode="r", *args, **kwargs):
        handle = real_open(self, mode, *args, **kwargs)
        if "w" in mode:
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return handle

    monkeypatch.setattr(Path, "open", full_disk)
    with pytest.raises(StorageFull, match="the data folder is full"):
        write_file_once(target, b"mail")
    monkeypatch.undo()
    assert list(tmp_path.rglob("*.tmp")) == [] and not target.exists()
