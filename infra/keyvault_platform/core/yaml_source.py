"""Safe YAML loading that remembers where every value came from.

PyYAML's ``safe_load`` silently keeps the last of duplicate keys, expands
aliases without limit and forgets positions. Our inputs (secret manifests,
environment files) are written by people and read by pipelines, so every
error must point at a file, line and column, and hostile input (a "billion
laughs" alias bomb, a huge file, bytes that are not UTF-8) must be refused
quickly with bounded memory.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# InputError lives with the other tool errors; many modules import it from here.
from keyvault_platform.core.errors import InputError as InputError
from keyvault_platform.core.problems import Location as Location
from keyvault_platform.core.problems import Problem as Problem

# What each guard bounds, and why:
# - bytes: a file is read whole and every value keeps its position; 4 MB holds
#   a 20,000-secret manifest with descriptions and tags.
MAX_FILE_BYTES = 4_000_000
# - alias expansion ("billion laughs"): an alias is a second visit of a node
#   already built, and nested aliases multiply. Only those repeat visits
#   count, so a long file with no alias is bounded by its bytes, not by this.
MAX_ALIAS_EXPANSION = 20_000
# Nothing we read nests deeper than a handful of levels; PyYAML recurses per level.
MAX_DEPTH = 64

PathKey = tuple[str | int, ...]

# libyaml's parser when PyYAML was built with it (the wheels are): about ten
# times faster than the pure-Python one, which a 10,000-secret manifest feels.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class SourceDocument:
    """A parsed YAML document and the position of each value in it."""

    path: str
    data: Any
    positions: dict[PathKey, Location] = field(default_factory=dict)
    #: Where each mapping key is written (``positions`` has its value's place).
    key_positions: dict[PathKey, Location] = field(default_factory=dict)

    def locate(self, path: PathKey) -> Location:
        """The position of the value at ``path``, or of its nearest parent."""
        probe = tuple(path)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), Location(self.path, 1, 1))

    def locate_key(self, path: PathKey) -> Location:
        """The position of the key that ends ``path`` (an unknown field), else :meth:`locate`."""
        return self.key_positions.get(tuple(path)) or self.locate(path)


def _mark(file: str, node: Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node graph into plain data, checking as it goes."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.positions: dict[PathKey, Location] = {}
        self.key_positions: dict[PathKey, Location] = {}
        self.problems: list[Problem] = []
        self.expanded = 0  # nodes built again through an alias
        self.built: set[int] = set()  # ids of nodes built once
        self._constructor = SafeConstructor()

    def build(self, node: Node, path: PathKey) -> Any:
        if id(node) in self.built:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_EXPANSION:
                raise _TooLarge(_mark(self.file, node))
        else:
            self.built.add(id(node))
        self.positions.setdefault(path, _mark(self.file, node))
        if isinstance(node, ScalarNode):
            try:
                return self._constructor.construct_object(node, deep=True)
            except ValueError as exc:  # e.g. a timestamp like 2026-13-01
                self.problems.append(Problem(_mark(self.file, node), f"invalid value: {exc}"))
                return None
        if isinstance(node, SequenceNode | MappingNode) and node.tag not in _PLAIN_COLLECTION_TAGS:
            # SafeConstructor would refuse a tag on a scalar; on a list or a
            # mapping the composer keeps it, and building it as plain data
            # would silently drop what the tag asked for.
            self.problems.append(
                Problem(
                    _mark(self.file, node),
                    f"YAML tag '{_shown_tag(node.tag)}' is not allowed here; "
                    "remove it (only plain lists and mappings are read)",
                )
            )
            return None
        if isinstance(node, SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            result: dict[Any, Any] = {}
            first_seen: dict[Any, Location] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(
                        Problem(_mark(self.file, key_node), "merge keys ('<<') are not supported")
                    )
                    continue
                key = self.build(key_node, (*path, "<key>"))
                if not isinstance(key, str | int | bool | float) or key is None:
                    self.problems.append(
                        Problem(_mark(self.file, key_node), "mapping keys must be plain scalars")
                    )
                    continue
                key_text = str(key) if not isinstance(key, str) else key
                if key_text in first_seen:
                    first = first_seen[key_text]
                    self.problems.append(
                        Problem(
                            _mark(self.file, key_node),
                            f"duplicate key '{key_text}' (first defined at line {first.line})",
                        )
                    )
                    continue
                first_seen[key_text] = _mark(self.file, key_node)
                self.key_positions[(*path, key_text)] = first_seen[key_text]
                self.positions[(*path, key_text)] = _mark(self.file, value_node)
                result[key_text] = self.build(value_node, (*path, key_text))
            self.positions.pop((*path, "<key>"), None)
            return result
        raise _Unsupported(_mark(self.file, node))


_PLAIN_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})


def _shown_tag(tag: str) -> str:
    """A tag as it is written: ``!!python/...`` for YAML's own prefix, else as given."""
    prefix = "tag:yaml.org,2002:"
    shown = "!!" + tag.removeprefix(prefix) if tag.startswith(prefix) else tag
    return shown[:80] + ("..." if len(shown) > 80 else "")


class _TooLarge(Exception):
    def __init__(self, location: Location) -> None:
        self.location = location


class _Unsupported(Exception):
    def __init__(self, location: Location) -> None:
        self.location = location


def display_path(path: Path, root: Path | None = None) -> str:
    """A path as users should see it: relative to ``root`` when inside it."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _check_depth(text: str, file: str) -> None:
    """Refuse deep nesting before composing: PyYAML's composer recurses per level."""
    starts: list[Any] = []

    def too_deep(at: Any) -> InputError:
        # Point at the top-level value that holds the deep chain.
        mark = starts[1] if len(starts) > 1 else starts[0] if starts else at
        return InputError(
            [
                Problem(
                    Location(file, mark.line + 1, mark.column + 1),
                    f"value is nested more than {MAX_DEPTH} levels deep; refusing it",
                )
            ]
        )

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.CollectionStartEvent):
                starts.append(event.start_mark)
                if len(starts) > MAX_DEPTH:
                    raise too_deep(event.start_mark)
            elif isinstance(event, yaml.CollectionEndEvent):
                starts.pop()
    except yaml.MarkedYAMLError as exc:
        # libyaml's scanner stops at its own depth limit (1,000) before the
        # parser hands us the 65th level: the same refusal.
        if "nesting depth" in str(exc.problem or ""):
            raise too_deep(exc.problem_mark) from None
        raise


#: Byte order marks of the encodings besides UTF-8 that editors save YAML in
#: (Windows PowerShell 5's ``>`` writes UTF-16 LE with a BOM).
_UTF16_BOMS = (
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)


def _decoded(data: bytes, file: str) -> str:
    """UTF-8 (a BOM is YAML's to skip), or UTF-16 with a BOM; anything else a located problem.

    The problem is raised outside the ``except`` block: a ``UnicodeDecodeError``
    holds the file's bytes, and must not become its context.
    """
    encoding, label = "utf-8", "UTF-8"
    for bom, codec, name in _UTF16_BOMS:
        if data.startswith(bom):
            data, encoding, label = data[len(bom) :], codec, name
            break
    bad_at: int | None = None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    line = data[:bad_at].decode(encoding, errors="replace").count("\n") + 1
    raise InputError(
        [Problem(Location(file, line, 1), f"not valid {label} (byte offset {bad_at})")]
    )


def parse_yaml(text: bytes | str, file: str) -> SourceDocument:
    """Parse one YAML document, raising :class:`InputError` with positions."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise InputError(
                [Problem(Location(file), f"file is larger than {MAX_FILE_BYTES:,} bytes")]
            )
        decoded = _decoded(text, file)
    else:
        decoded = text
    if len(decoded) > MAX_FILE_BYTES:
        raise InputError([Problem(Location(file), f"file is larger than {MAX_FILE_BYTES:,} bytes")])
    try:
        _check_depth(decoded, file)
        nodes = list(yaml.compose_all(decoded, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        reason = exc.problem or exc.context or "invalid YAML"
        raise InputError([Problem(location, f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise InputError([Problem(Location(file), f"invalid YAML: {exc}")]) from None
    if len(nodes) > 1:
        raise InputError(
            [Problem(_mark(file, nodes[1]), "expected one YAML document, found several")]
        )
    if not nodes or nodes[0] is None:
        return SourceDocument(file, None, {(): Location(file, 1, 1)})
    builder = _Builder(file)
    try:
        data = builder.build(nodes[0], ())
    except _TooLarge as exc:
        raise InputError(
            [
                Problem(
                    exc.location,
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} repeated values "
                    "(nested aliases multiply); refusing it",
                )
            ]
        ) from None
    except _Unsupported as exc:
        raise InputError([Problem(exc.location, "unsupported YAML node")]) from None
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        location = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raise InputError([Problem(location, f"invalid value: {exc.problem}")]) from None
    if builder.problems:
        raise InputError(builder.problems)
    return SourceDocument(file, data, builder.positions, builder.key_positions)


def load_yaml_file(path: Path, *, root: Path | None = None) -> SourceDocument:
    """Read and parse ``path``; problems carry its display path."""
    shown = display_path(path, root)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                [
                    Problem(
                        Location(shown), f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}"
                    )
                ]
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError([Problem(Location(shown), "file not found")]) from None
    except IsADirectoryError:
        raise InputError([Problem(Location(shown), "is a directory, not a file")]) from None
    except PermissionError:
        raise InputError([Problem(Location(shown), "permission denied")]) from None
    return parse_yaml(raw, shown)
