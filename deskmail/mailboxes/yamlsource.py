"""Read a YAML document together with the line of every value, for errors that say where.

PyYAML's node tree keeps the position of every key and item; the constructed
data does not. `read_yaml` builds both from one parse and maps each path
(`("mailboxes", 0, "inbound", "port")`) to its 1-based line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlSyntaxError(Exception):
    """The text is not YAML; `line` is where the parser gave up."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class DuplicateKey:
    path: Path
    line: int
    first_line: int


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    duplicate_keys: list[DuplicateKey] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that exists in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1


# A mailbox file with more than this is not one a person wrote.
MAX_CHARACTERS = 16 * 1024 * 1024


def _refuse_aliases(text: str) -> None:
    """Aliases (`*name`) are refused before anything is built from them.

    A few lines of nested aliases expand to gigabytes ("billion laughs"), and a
    recursive one never ends; a mailbox file has no need of them. The scan
    reads the parser's events only, in time and memory linear in the text.
    """
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark else 1
                raise YamlSyntaxError(
                    line,
                    f"YAML aliases (*{event.anchor}) are not allowed in a mailbox file: "
                    "write the values out",
                )
    except yaml.MarkedYAMLError:
        return  # the syntax error is reported, with its line, by the parse below


def read_yaml(text: str) -> YamlDocument:
    """Parse one YAML document (safe types only) and record where each value is."""
    if len(text) > MAX_CHARACTERS:
        raise YamlSyntaxError(1, f"the file is larger than {MAX_CHARACTERS // 2**20} MiB")
    _refuse_aliases(text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = " ".join(part for part in (exc.context, exc.problem) if part)
        raise YamlSyntaxError(line, f"not valid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(1, f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    document = YamlDocument(data=data)
    if node is not None:
        document.lines[()] = node.start_mark.line + 1
        _walk(node, (), document)
    return document


def _walk(node: yaml.Node, path: Path, document: YamlDocument) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str | int, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                document.duplicate_keys.append(DuplicateKey((*path, key), line, seen[key]))
                continue
            seen[key] = line
            document.lines[(*path, key)] = line
            _walk(value_node, (*path, key), document)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            document.lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), document)
