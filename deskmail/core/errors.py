"""Errors about the installation itself, which an operator fixes: no Django imports here,
so the `deskmail` command can catch them before Django is set up."""

from __future__ import annotations


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


class StorageFull(OSError):
    """The data folder has no room left; nothing half-written was left behind."""
