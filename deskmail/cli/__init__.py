"""The `deskmail` command.

`deskmail parse` runs the framework-free parser without loading Django; every
other word is a Django management command (`deskmail migrate`, `deskmail
import`, `deskmail worker` ...), so `deskmail help` lists them all.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["parse"]:
        from deskmail.mail.cli import parse_main

        sys.exit(parse_main(args[1:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "deskmail.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from deskmail.core.errors import DecryptionError, StorageFull

    try:
        execute_from_command_line(["deskmail", *args])
    except (ImproperlyConfigured, DecryptionError, StorageFull) as exc:
        # Something about this installation an operator must fix: one sentence, no traceback.
        sys.stderr.write(f"deskmail: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
