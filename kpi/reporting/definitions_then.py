"""The KPI definitions as they stood at a past moment, rebuilt from their chained history.

The digest compares the scorecard shown at a date with today's; a target set since then
must judge the "then" scorecard by the old target, or a status moved by a new target would
go unseen. Every save since the date left a history line holding the unified diff of its
entry (kpi.workflows.definition_writer); undoing those diffs, newest first, on today's
file gives the file as it was. When a diff does not fit (the file was edited by hand
since, a history line is unreadable), the rebuild stops and says why, and the caller keeps
today's definitions rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kpi.core.settings import Settings
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.workflows.definition_versions import check_candidate, kpi_history
from kpi.workflows.yaml_splice import SourceFile

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True)
class DefinitionsThen:
    """The definitions at the moment (None when nothing was saved since, so today's hold, or
    when they could not be rebuilt: then `problem` says why), and the saves since, newest
    first."""

    definitions: list[KpiDefinition] | None
    saves: tuple[dict, ...]
    problem: str | None = None


def recorded_at(text: object) -> datetime | None:
    """A history line's `when` (ISO, UTC) as a naive UTC moment; None when unreadable."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def definitions_at(path: Path, since: datetime, settings: Settings | None) -> DefinitionsThen:
    """The definitions file at `path` as it was at `since` (naive UTC)."""
    history = kpi_history(path)
    if any(recorded_at(r.get("when")) is None for r in history):
        return DefinitionsThen(None, (), "a line of the history has no readable time")
    saves = tuple(r for r in history if (recorded_at(r.get("when")) or since) >= since)
    if not saves:
        return DefinitionsThen(None, ())  # nothing saved since: today's definitions hold
    raw = Path(path).read_bytes()
    text = raw.decode("utf-8-sig")
    for record in saves:  # newest first
        text_before = _undo_save(path, text, record, settings)
        if text_before is None:
            return DefinitionsThen(
                None,
                saves,
                f"the save of {record.get('kpi_id')} at {record.get('when')} does not fit "
                "today's file (edited by hand since?)",
            )
        text = text_before
    definitions, issues = check_candidate(text, settings)
    if issues:
        return DefinitionsThen(None, saves, f"the rebuilt file does not read: {issues[0]}")
    return DefinitionsThen(definitions, saves)


def _undo_save(path: Path, text: str, record: dict, settings: Settings | None) -> str | None:
    """The file's text before one save: its entry's diff undone in place."""
    source = SourceFile.parse(path, text.encode("utf-8"), settings)
    kpi_id = record.get("kpi_id")
    index = next(
        (i for i, e in enumerate(source.entries) if hasattr(e, "get") and e.get("id") == kpi_id),
        None,
    )
    if index is None or index >= len(source.spans):
        return None
    span = source.spans[index]
    old = _unapply(
        [line.rstrip("\r") for line in source.lines[span.start : span.end]],
        str(record.get("diff") or ""),
    )
    if old is None:
        return None
    eol = "\r" if source.crlf else ""
    lines = source.lines[: span.start] + [line + eol for line in old] + source.lines[span.end :]
    return "\n".join(lines)


def _unapply(new: Sequence[str], diff: str) -> list[str] | None:
    """The old lines of a unified diff given its new lines; None when the diff does not fit."""
    out: list[str] = []
    at = 0
    hunks = diff.split("\n")
    i = 0
    while i < len(hunks):
        head = _HUNK.match(hunks[i])
        i += 1
        if head is None:
            continue
        new_start, new_count = int(head.group(3)), int(head.group(4) or 1)
        first = new_start - 1 if new_count else new_start
        if first < at or first > len(new):
            return None
        out.extend(new[at:first])
        at = first
        while i < len(hunks) and hunks[i][:1] in (" ", "-", "+", "\\"):
            kind, line = hunks[i][:1], hunks[i][1:]
            i += 1
            if kind == "\\":
                continue
            if kind in (" ", "+"):
                if at >= len(new) or new[at] != line:
                    return None
                at += 1
            if kind in (" ", "-"):
                out.append(line)
    out.extend(new[at:])
    return out
