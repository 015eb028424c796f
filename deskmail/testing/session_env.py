"""Loaded with `-p` before pytest-django reads the settings: a data folder per test run."""

import os
import tempfile

# Every test run gets its own data folder: nothing touches ./data.
os.environ["DESKMAIL_DATA_DIR"] = tempfile.mkdtemp(prefix="deskmail-test-")
os.environ.setdefault("DESKMAIL_ENCRYPTION_KEYS", "")
