"""What a signer signs: a KPI entry's change since its last agreed version, in words and values.

An approval or a target signature signs the entry's content (kpi.workflows.definition_versions,
`entry_version`); a hash tells a person nothing. So before anyone signs, the inbox shows what
changed since the version both departments last agreed: the last agreed entry is rebuilt from
the definitions' history (kpis.history.jsonl: each save keeps the unified diff of the entry),
by undoing the saves since, newest first, and checking every step against the content hash the
history recorded. Then the signed fields are compared, one sentence per change ("target for
FY2026-Q3: 45.0 days → 42.0 days"). When the history cannot rebuild it (the file was edited by
hand in between, or the KPI was never agreed in the app), the reader is told so, and shown
the saves on record and the content they sign.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kpi.core.formatting import format_value
from kpi.workflows.definition_versions import (
    SIGNED_FIELDS,
    _signed_slices,
    entry_version,
    kpi_history,
)
from kpi.workflows.yaml_splice import FileRead, find_entry, read_file

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")

FIELD_WORDS = {
    "source": "view",
    "period_by": "period column",
    "formula": "formula",
    "direction": "direction",
    "unit": "unit",
    "owner": "owner",
}
DIRECTION_WORDS = {
    "higher_is_better": "higher is better",
    "lower_is_better": "lower is better",
    "target_is_best": "closest to the target is best",
}


@dataclass(frozen=True)
class WhatIsSigned:
    """The change a signer approves: `changes` in words (empty when none is known), since
    the last agreed version (`agreed_when`, `agreed_version`; None when none is on record),
    the saves recorded since (who, when, what, why) and a `note` when the comparison could
    not be made."""

    kpi_id: str
    current_version: str
    changes: list[str] = field(default_factory=list)
    agreed_when: str | None = None
    agreed_version: str | None = None
    saves: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    content: list[str] = field(default_factory=list)  # the signed content now, in words


def what_is_signed(
    path: Path, kpi_id: str, *, history_path: Path | None = None, currency: str = "EUR"
) -> WhatIsSigned:
    """The change since the last agreed version of `kpi_id` in the definitions at `path`."""
    source = read_file(Path(path))
    index, current = find_entry(source.entries, kpi_id, Path(path))
    version = entry_version(current)
    content = content_words(current, currency)
    lines = _entry_lines(source, index)
    records = kpi_history(Path(path), kpi_id, history_path)
    saves: list[dict[str, Any]] = []
    expected = version
    for record in records:  # newest first: undo each save until an agreed version
        if record.get("entry_version") != expected or lines is None:
            return WhatIsSigned(
                kpi_id,
                version,
                saves=saves,
                content=content,
                note=(
                    "The last agreed version cannot be rebuilt: the file was changed outside "
                    "the app after the save of "
                    f"{record.get('when', 'an unknown time')}. Read the saves below and the "
                    "content you sign."
                ),
            )
        if record.get("status_to") == "agreed":
            agreed = _parse_entry(lines)
            if agreed is None:
                break
            changes = changes_in_words(agreed, current, currency)
            return WhatIsSigned(
                kpi_id,
                version,
                changes,
                agreed_when=str(record.get("when") or ""),
                agreed_version=expected,
                saves=saves,
                content=content,
                note="" if changes else "Nothing you sign changed since the agreed version.",
            )
        saves.append(record)
        lines = undo(lines, str(record.get("diff") or ""))
        before = _parse_entry(lines) if lines else None
        expected = entry_version(before) if before else ""
        if before is not None and record.get("status_from") == "agreed":
            # the save changed an agreed version (agreed in the file before any save)
            changes = changes_in_words(before, current, currency)
            return WhatIsSigned(
                kpi_id,
                version,
                changes,
                agreed_when=f"before {record.get('when')}",
                agreed_version=expected,
                saves=saves,
                content=content,
                note="" if changes else "Nothing you sign changed since the agreed version.",
            )
    return WhatIsSigned(
        kpi_id,
        version,
        saves=saves,
        content=content,
        note=(
            f"No agreed version of '{kpi_id}' is on record in the app's history: you sign "
            "its whole content, listed below."
        ),
    )


def undo(after: Sequence[str], diff: str) -> list[str] | None:
    """The lines before a save, from the lines after it and the save's unified diff; None
    when the diff does not fit these lines (they are not what the save wrote)."""
    if not diff.strip():
        return list(after)
    out: list[str] = []
    pos = 0
    body = diff.splitlines(keepends=True)
    i = 0
    while i < len(body):
        match = _HUNK.match(body[i])
        i += 1
        if not match:
            continue
        start, count = int(match.group(3)), int(match.group(4) or 1)
        at = start if count == 0 else start - 1
        if at < pos or at > len(after):
            return None
        out.extend(after[pos:at])
        pos = at
        while i < len(body) and not body[i].startswith("@@"):
            line = body[i]
            i += 1
            tag, text = line[:1], line[1:]
            if tag == " ":
                if pos >= len(after) or after[pos] != text:
                    return None
                out.append(text)
                pos += 1
            elif tag == "-":
                out.append(text)
            elif tag == "+":
                if pos >= len(after) or after[pos] != text:
                    return None
                pos += 1
    out.extend(after[pos:])
    return out


def changes_in_words(
    before: Mapping[str, Any], after: Mapping[str, Any], currency: str = "EUR"
) -> list[str]:
    """One sentence per signed field that differs, with the old and the new value."""
    out: list[str] = []
    unit_before = str(before.get("unit") or "")
    unit_after = str(after.get("unit") or "")
    for key in SIGNED_FIELDS:
        old, new = before.get(key), after.get(key)
        if key == "targets":
            out += _target_changes(old, new, unit_before, unit_after, currency)
        elif key == "formula":
            if str(old or "").strip() != str(new or "").strip():
                out.append(f"formula: {_one_line(old)} → {_one_line(new)}")
        elif old != new:
            out.append(f"{FIELD_WORDS[key]}: {_word(key, old)} → {_word(key, new)}")
    old_slices = _signed_slices(before.get("slice_targets"))
    new_slices = _signed_slices(after.get("slice_targets"))
    if old_slices != new_slices:
        out.append(
            f"slice targets: {_slices_words(old_slices, unit_before, currency)} → "
            f"{_slices_words(new_slices, unit_after, currency)}"
        )
    return out


def content_words(entry: Mapping[str, Any], currency: str = "EUR") -> list[str]:
    """The signed content in words: what a first approval signs."""
    unit = str(entry.get("unit") or "")
    out = [f"{FIELD_WORDS[k]}: {_word(k, entry.get(k))}" for k in FIELD_WORDS if k != "formula"]
    out.insert(2, f"formula: {_one_line(entry.get('formula'))}")
    targets = entry.get("targets") or {}
    if targets:
        shown = ", ".join(f"{p} {_value(v, unit, currency)}" for p, v in targets.items())
        out.append(f"targets: {shown}")
    else:
        out.append("targets: none")
    slices = _signed_slices(entry.get("slice_targets"))
    if slices:
        out.append(f"slice targets: {_slices_words(slices, unit, currency)}")
    return out


def _target_changes(
    old: object, new: object, unit_before: str, unit_after: str, currency: str
) -> list[str]:
    old_t = dict(old) if isinstance(old, Mapping) else {}
    new_t = dict(new) if isinstance(new, Mapping) else {}
    out = []
    for period in sorted({str(p) for p in (*old_t, *new_t)}):
        a, b = old_t.get(period), new_t.get(period)
        if period not in old_t:
            out.append(f"target for {period}: none → {_value(b, unit_after, currency)}")
        elif period not in new_t:
            out.append(f"target for {period}: {_value(a, unit_before, currency)} → removed")
        elif _number(a) != _number(b) or unit_before != unit_after:
            out.append(
                f"target for {period}: {_value(a, unit_before, currency)} → "
                f"{_value(b, unit_after, currency)}"
            )
    return out


def _slices_words(slices: list[dict], unit: str, currency: str) -> str:
    if not slices:
        return "none"
    parts = []
    for s in slices:
        where = "; ".join(f"{k} = {', '.join(v)}" for k, v in s["where"].items())
        targets = ", ".join(f"{p} {_value(v, unit, currency)}" for p, v in s["targets"].items())
        parts.append(f"[{where}: {targets}]")
    return " ".join(parts)


def _number(value: object) -> float | None:
    try:
        return None if value is None else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _value(value: object, unit: str, currency: str) -> str:
    number = _number(value)
    return format_value(number, unit, currency) if number is not None else str(value)


def _word(key: str, value: object) -> str:
    if value is None or value == "":
        return "not set"
    if key == "direction":
        return DIRECTION_WORDS.get(str(value), str(value))
    return str(value)


def _one_line(formula: object) -> str:
    text = " ".join(str(formula or "").split())
    return text or "not set"


def _entry_lines(source: FileRead, index: int) -> list[str] | None:
    """The entry's lines as the history's diffs hold them (each ending in a newline)."""
    if index >= len(source.spans):
        return None
    span = source.spans[index]
    return [line.rstrip("\r") + "\n" for line in source.lines[span.start : span.end]]


def _parse_entry(lines: Sequence[str]) -> dict[str, Any] | None:
    """The entry the lines of one `- id: ...` item hold, or None when they do not read."""
    try:
        data = yaml.safe_load("".join(lines))
    except yaml.YAMLError:
        return None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        return data[0]
    return None
