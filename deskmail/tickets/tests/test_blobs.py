import pytest
from django.core.files.storage import default_storage

from deskmail.tickets.blobs import raw_name, read_raw, sha256, store_raw


def test_it_names_raw_messages_by_their_sha256():
    digest = sha256(b"x")
    assert raw_name(digest) == f"raw/{digest[:2]}/{digest[2:4]}/{digest}.eml"


@pytest.mark.django_db
def test_it_writes_a_raw_message_once():
    raw = b"Subject: hi\r\n\r\nbody\r\n"
    digest = store_raw(raw)
    mtime = default_storage.get_modified_time(raw_name(digest))
    assert store_raw(raw) == digest
    assert default_storage.get_modified_time(raw_name(digest)) == mtime
    assert read_raw(digest) == raw


@pytest.mark.django_db
def test_it_leaves_no_temporary_files_behind(tmp_path, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path},
        },
    }
    from deskmail.tickets.blobs import store_blob

    digest = store_blob(b"attachment bytes")
    files = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [f"blobs/{digest[:2]}/{digest[2:4]}/{digest}"]
