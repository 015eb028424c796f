"""Lists printed as JSON arrays are written row by row, in the format they always had."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management.base import OutputWrapper

from deskmail.cli.common import write_json_array

ROWS: list[list[Any]] = [
    [],
    [{"id": 1}],
    [
        {"id": 1, "error": "line one\nline two", "nested": {"a": [1, {"b": None}], "c": {}}},
        {"id": 2, "mailbox": "Störungen", "empty": [], "when": "2026-12-03T07:00:00+00:00"},
    ],
    [[], {}, "text", 3, None],
]


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_the_text_is_what_json_dumps_with_indent_2_gives(
    rows: list[Any], ensure_ascii: bool
) -> None:
    streamed = io.StringIO()
    write_json_array(OutputWrapper(streamed), iter(rows), ensure_ascii=ensure_ascii)
    whole = io.StringIO()
    OutputWrapper(whole).write(json.dumps(rows, indent=2, ensure_ascii=ensure_ascii))

    assert streamed.getvalue() == whole.getvalue()


def test_each_row_is_written_before_the_next_is_read() -> None:
    out = io.StringIO()
    seen: list[str] = []

    def rows() -> Iterator[dict[str, int]]:
        for n in range(3):
            seen.append(out.getvalue())
            yield {"n": n}

    write_json_array(OutputWrapper(out), rows())

    assert seen[0] == ""
    assert '"n": 0' in seen[1] and '"n": 1' not in seen[1]
    assert '"n": 1' in seen[2]
    assert json.loads(out.getvalue()) == [{"n": 0}, {"n": 1}, {"n": 2}]
