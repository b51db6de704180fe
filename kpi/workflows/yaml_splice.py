"""Round-trip splicing of config/kpis.yaml: one entry re-rendered, the rest kept byte for byte.

A save parses the file once (`SourceFile.parse`), changes the round-trip document, and
`render` puts the changed entry's lines in place of the old ones (or after the last entry),
so every comment, the order and the layout of the rest of the file stay as they were. A
layout that cannot be followed gets the whole file round-tripped instead. New values are
styled like their neighbours (flow or block, quoting), and numbers are written tidily.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import pickle
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.scalarstring import LiteralScalarString, ScalarString

from kpi.core.kept import Kept
from kpi.core.settings import Settings
from kpi.semantic.definitions import MAX_VALUES, check_file, expands_beyond
from kpi.semantic.kpi_definition import FIELDS, DefinitionsError, Issue, UnknownKpi


class BrokenFile(DefinitionsError):
    """The file on disk is broken (edited by hand): the app will not write over it."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues)
        path = issues[0].path if issues else "kpis.yaml"
        listed = "\n".join(f"  {issue}" for issue in issues)
        Exception.__init__(
            self,
            f"Not saved: {path} has {len(issues)} problem(s) from a hand edit. Fix the file "
            f"by hand first (`python -m kpi check` lists them), then save again:\n{listed}",
        )


@dataclass(frozen=True)
class _Span:
    """Lines [start, end) of one KPI entry, from its '- ' to its last value; `dash` is
    the column of the '-' (-1 when the entry does not start with one on its first line)."""

    start: int
    end: int
    dash: int


@dataclass
class SourceFile:
    """The file as read: its text and lines (split on '\\n' only, so the rest is rebuilt
    byte for byte), the round-trip document and where each entry sits."""

    path: Path
    text: str
    lines: list[str]
    bom: bool
    doc: CommentedMap
    entries: CommentedSeq
    spans: list[_Span]
    indent: tuple[int, int, int]

    @classmethod
    def parse(cls, path: Path, raw: bytes, settings: Settings | None) -> SourceFile:
        try:
            text = raw.decode("utf-8-sig")
            node, doc = _parse(text)
        except (YAMLError, ValueError) as exc:
            issues = check_file(path, settings) or [Issue(str(path), None, None, None, str(exc))]
            raise BrokenFile(issues) from None
        kpis = doc.get("kpis") if isinstance(doc, CommentedMap) else None
        if not isinstance(doc, CommentedMap) or not isinstance(kpis, CommentedSeq | None):
            raise BrokenFile(check_file(path, settings))
        if kpis is None:
            doc["kpis"] = CommentedSeq()
        lines = text.split("\n")
        items = _kpis_node(node)
        spans, indent = _spans(items, lines), _indent(node, items, lines)
        bom = raw.startswith(b"\xef\xbb\xbf")
        return cls(path, text, lines, bom, doc, doc["kpis"], spans, indent)

    @property
    def crlf(self) -> bool:
        return self.text.count("\r\n") > self.text.count("\n") // 2

    def encode(self, text: str) -> bytes:
        return ("\ufeff" if self.bom else "").encode("utf-8") + text.encode("utf-8")

    def render(self, i: int, kpi_id: str) -> tuple[str, str]:
        """The new file text and the unified diff of the entry: the entry's new lines in
        place of its old ones (or after the last entry), checked to read back as the
        document; a layout that cannot be followed gets the whole file round-tripped."""
        old = self.lines[self.spans[i].start : self.spans[i].end] if i < len(self.spans) else []
        new = self._entry_lines(i, old)
        text = self._splice(new, i) if new is not None else None
        if text is None or not _reads_as(text, self.doc):
            text = self._dump(self.doc)
            lines = text.split("\n")
            span = _spans(_kpis_node(_parse(text)[0]), lines)[i]
            new = lines[span.start : span.end]
            if self.crlf:
                text = "\r\n".join(line.rstrip("\r") for line in lines)
        name = f"{self.path.name} {kpi_id}"
        diff = difflib.unified_diff(
            [line.rstrip("\r") + "\n" for line in old],
            [line.rstrip("\r") + "\n" for line in new or []],
            fromfile=f"{name} (before)",
            tofile=f"{name} (after)",
        )
        return text, "".join(diff)

    def _entry_lines(self, i: int, old: list[str]) -> list[str] | None:
        """Entry i rendered on its own by the round-trip dumper, at the file's column."""
        root = CommentedMap()
        root["kpis"] = CommentedSeq([self.entries[i]])
        dumped = self._dump(root)
        lines = dumped.split("\n")
        spans = _spans(_kpis_node(_round_trip(None).compose(io.StringIO(dumped))), lines)
        if not spans or spans[0].dash < 0 or not self.spans or self.spans[0].dash < 0:
            return None
        span = spans[0]
        dash = self.spans[min(i, len(self.spans) - 1)].dash
        new = _without_strays(_shift(lines[span.start : span.end], dash - span.dash), old)
        return [line.rstrip("\r") + "\r" for line in new] if self.crlf else new

    def _splice(self, entry: list[str], i: int) -> str | None:
        lines = self.lines
        if any(span.dash < 0 for span in self.spans):
            return None
        if i < len(self.spans):  # an edit: the entry's lines replaced
            span = self.spans[i]
            return "\n".join(lines[: span.start] + entry + lines[span.end :])
        end = self.spans[-1].end  # an add: after the last entry, spaced like the others
        gap = [""] if len(self.spans) < 2 or not lines[self.spans[1].start - 1].strip() else []
        return "\n".join(lines[:end] + gap + entry + lines[end:])

    def _dump(self, data: Any) -> str:
        buf = io.StringIO()
        _round_trip(self.indent).dump(data, buf)
        return buf.getvalue()


@dataclass(frozen=True)
class FileRead:
    """The definitions file as a reader needs it (nothing is edited): each item of `kpis`
    as plain data (`entries`, in the file's order), the file's lines and where each entry
    sits in them (`spans`, by the same index)."""

    entries: list[Any]
    lines: tuple[str, ...]
    spans: tuple[_Span, ...]


def read_file(path: Path, raw: bytes | None = None) -> FileRead:
    """The file at `path` (its bytes `raw`, when already read) parsed for reading.

    Why kept: the round-trip parser takes a tenth of a second or more on the shipped file,
    and the sidebar's inbox count, the inbox and the signing views read the same unchanged
    file on every page. Kept by content (the path only names the file in an error), so an
    edit is read afresh; each call gets its own copy of the entries, which the caller may
    change."""
    raw = Path(path).read_bytes() if raw is None else raw
    kept = _READS.get(raw)
    if kept is None:
        source = SourceFile.parse(Path(path), raw, None)
        entries = pickle.dumps([plain(e) for e in source.entries])
        kept = (entries, tuple(source.lines), tuple(source.spans))
        _READS.put(raw, kept)
    entries, lines, spans = kept
    return FileRead(pickle.loads(entries), lines, spans)  # the caller's own copy, at C speed


# read_file's parses, by the file's bytes, the most recently used last
_READS: Kept[bytes, tuple[bytes, tuple[str, ...], tuple[_Span, ...]]] = Kept(8)


def _reads_as(text: str, doc: Any) -> bool:
    try:
        return plain(_parse(text)[1]) == plain(doc)
    except (YAMLError, ValueError):
        return False


def _parse(text: str) -> tuple[Node | None, Any]:
    """One parse: the node tree (lines and columns) and the round-trip data built from it.
    A document whose aliases expand beyond the checker's limit (a "billion laughs" file) is
    refused (ValueError) before anything walks it value by value."""
    yaml = _round_trip(None)
    node = yaml.compose(io.StringIO(text))
    if node is not None and expands_beyond(node, MAX_VALUES):
        raise ValueError(f"the document expands to more than {MAX_VALUES:,} values")
    return node, (yaml.constructor.construct_document(node) if node is not None else None)


def _round_trip(indent: tuple[int, int, int] | None) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    mapping, sequence, offset = indent or (2, 4, 2)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _kpis_node(root: Node | None) -> list[Node]:
    for key, value in root.value if isinstance(root, MappingNode) else []:
        is_kpis = isinstance(key, ScalarNode) and key.value == "kpis"
        if is_kpis and isinstance(value, SequenceNode) and not value.flow_style:
            return list(value.value)
    return []


def _spans(items: list[Node], lines: list[str]) -> list[_Span]:
    spans = []
    for n, item in enumerate(items):
        start = item.start_mark.line
        end = _end_line(item)
        if n + 1 < len(items):
            end = min(end, items[n + 1].start_mark.line)
        text = lines[start] if start < len(lines) else ""
        dash = len(text) - len(text.lstrip(" "))
        dash = dash if text[dash : dash + 1] == "-" else -1
        spans.append(_Span(start, max(end, start + 1), dash))
    return spans


def _end_line(node: Node) -> int:
    """The line after the last character of a node's content (comments after it are not
    part of it: they stay where they are in the file)."""
    key: Node | None = None
    while isinstance(node, MappingNode | SequenceNode) and not node.flow_style and node.value:
        if isinstance(node, MappingNode):
            key, node = node.value[-1]
        else:
            key, node = None, node.value[-1]
    if isinstance(node, ScalarNode) and node.value == "" and not node.style and key is not None:
        return key.end_mark.line + 1  # `key:` with nothing after it
    mark = node.end_mark
    return mark.line if mark.column == 0 and mark.line > node.start_mark.line else mark.line + 1


def _indent(root: Node | None, items: list[Node], lines: list[str]) -> tuple[int, int, int]:
    """The file's indentation (mapping, sequence, offset) as ruamel.yaml's settings."""
    if not items or not isinstance(root, MappingNode):
        return (2, 4, 2)
    key = next(k for k, v in root.value if isinstance(k, ScalarNode) and k.value == "kpis")
    first = items[0]
    text = lines[first.start_mark.line]
    dash = len(text) - len(text.lstrip(" "))
    sequence = first.start_mark.column - key.start_mark.column
    offset = dash - key.start_mark.column
    mapping = 2
    if isinstance(first, MappingNode):
        for k, v in first.value:
            if isinstance(v, MappingNode) and not v.flow_style and v.value:
                mapping = v.value[0][0].start_mark.column - k.start_mark.column
                break
    if offset < 0 or sequence < offset + 2 or mapping < 1:
        return (2, 4, 2)
    return (mapping, sequence, offset)


def _without_strays(new: list[str], old: list[str]) -> list[str]:
    """The entry's new lines without blank or comment lines it did not have: ruamel.yaml
    keeps the lines that follow an entry with its last key, so a key added after that one
    would carry them into the entry (they stay, from the original text, after it)."""
    kept = Counter(line.strip() for line in old if _trivia(line))
    out = []
    for line in new:
        if _trivia(line):
            if kept[line.strip()] <= 0:
                continue
            kept[line.strip()] -= 1
        out.append(line)
    return out


def _trivia(line: str) -> bool:
    text = line.strip()
    return not text or text.startswith("#")


def _shift(lines: list[str], delta: int) -> list[str]:
    if delta > 0:
        return [" " * delta + line if line.strip() else line for line in lines]
    if delta < 0:
        return [line[min(-delta, len(line) - len(line.lstrip(" "))) :] for line in lines]
    return lines


# ---------------------------------------------------------------------------------------
# Values in the round-trip document, in the style of their neighbours
# ---------------------------------------------------------------------------------------


def find_entry(entries: Sequence[Any], kpi_id: str, path: Path) -> tuple[int, Any]:
    """The index and entry of `kpi_id` among the file's entries (round-trip ones, to edit, or
    read_file's plain ones); UnknownKpi, with the closest ids, when there is none."""
    for index, entry in enumerate(entries):
        if isinstance(entry, Mapping) and entry.get("id") == kpi_id:
            return index, entry
    known = [str(e.get("id")) for e in entries if isinstance(e, Mapping)]
    close = difflib.get_close_matches(kpi_id, known, n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownKpi(f"There is no KPI '{kpi_id}' in {path.name}.{hint}")


def assign(mapping: CommentedMap, key: Any, value: Any, depth: int = 1) -> None:
    """Set mapping[key] keeping what is unchanged as it is written (style, comments);
    `depth` is the value's depth below the entry (1 for a field of the entry)."""
    if value is None:
        if key in mapping:
            del mapping[key]
        return
    old = mapping.get(key)
    if isinstance(old, CommentedMap) and isinstance(value, Mapping):
        merge_map(old, value, depth + 1)
    elif isinstance(old, CommentedSeq) and isinstance(value, list | tuple):
        if plain(old) != plain(list(value)):
            del old[:]
            old.extend(commented(v, None, depth + 1) for v in value)
    elif key in mapping:
        if plain(old) != plain(value):
            mapping[key] = commented(value, old, depth)
    else:
        mapping.insert(position(mapping, key, depth), key, commented(value, None, depth))


def merge_map(old: CommentedMap, new: Mapping, depth: int) -> None:
    for key in [k for k in old if k not in new]:
        del old[key]
    for key, value in new.items():
        assign(old, key, value, depth)


def position(mapping: CommentedMap, key: Any, depth: int = 1) -> int:
    """Where a new key goes: a field of the entry in the order of the KPI fields, anything
    else at the end."""
    if depth != 1 or key not in FIELDS:
        return len(mapping)
    rank = FIELDS.index(key)
    for pos, existing in enumerate(mapping):
        if existing in FIELDS and FIELDS.index(existing) > rank:
            return pos
    return len(mapping)


def commented_entry(entry: Mapping[str, Any], like: CommentedMap | None) -> CommentedMap:
    """A new entry, fields in the usual order, each styled like the same field of `like`."""
    keys = [k for k in FIELDS if k in entry] + [k for k in entry if k not in FIELDS]
    out = CommentedMap()
    for key in keys:
        if entry[key] is not None:
            sibling = like.get(key) if isinstance(like, CommentedMap) else None
            if not isinstance(sibling, CommentedMap | CommentedSeq):
                sibling = None  # another KPI's text style (folded, quoted) is not copied
            out[key] = commented(entry[key], sibling, depth=1, flow=key == "raci" or None)
    return out


def commented(value: Any, like: Any, depth: int, flow: bool | None = None) -> Any:
    """Plain data as round-trip data, styled like `like` (the value it replaces or a
    sibling's); without one, lists and nested records are flow style, the rest block."""
    if isinstance(value, Mapping):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = commented(item, child_like(like, key), depth + 1)
        if _flow_of(like, flow if flow is not None else depth >= 2):
            out.fa.set_flow_style()
        else:
            out.fa.set_block_style()
        return out
    if isinstance(value, list | tuple):
        seq = CommentedSeq(commented(v, None, depth + 1) for v in value)
        if _flow_of(like, True):
            seq.fa.set_flow_style()
        else:
            seq.fa.set_block_style()
        return seq
    if isinstance(value, float | int) and not isinstance(value, bool):
        return tidy_number(value)
    if isinstance(value, str):
        if isinstance(like, ScalarString):
            return type(like)(value)
        return LiteralScalarString(value) if "\n" in value else value
    return value


def _flow_of(like: Any, default: bool) -> bool:
    if isinstance(like, CommentedMap | CommentedSeq):
        style = like.fa.flow_style()
        return bool(style) if style is not None else default
    return default


def child_like(like: Any, key: Any) -> Any:
    if not isinstance(like, CommentedMap):
        return None
    if key in like:
        return like[key]
    return next((v for v in like.values() if isinstance(v, CommentedMap)), None)


def sibling_value(entries: CommentedSeq, key: str) -> Any:
    """The same field in another entry, for its style."""
    for entry in entries:
        if isinstance(entry, CommentedMap) and isinstance(entry.get(key), CommentedMap):
            return entry[key]
    return None


# ---- plain data -------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Round-trip data as plain Python (dict, list, str, int, float, bool, date)."""
    if isinstance(value, Mapping):
        return {(str(k) if isinstance(k, str) else k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def as_data(entry: Mapping | BaseModel) -> dict:
    if isinstance(entry, BaseModel):
        return entry.model_dump()
    return plain(entry)


def json_safe(value: Any) -> Any:
    return json.loads(json.dumps(plain(value), default=str))


def comparable(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return float(value)


def tidy_number(value: float | int) -> float | int:
    """1000000.0 is written 1000000; 0.7 stays 0.7."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return int(value) if isinstance(value, int) else float(value)


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
