"""The chained history of definition saves: each line carries the hash of the line before.

kpis.history.jsonl is append-only: one JSON line per save (kpi.workflows.definition_writer).
So that a deleted, edited or garbled line does not go unnoticed, every line the writer
appends carries three fields of its own:

- `seq`: the line's number in the file when it was written (1 for the first line);
- `prev`: the SHA-256 of the previous line's bytes (UTF-8, without the newline), or
  `GENESIS` for the first line of the file;
- `digest`: the SHA-256 of the line's own content (every other field, as canonical JSON),
  so an edit of the last line, which no later line links to, shows too.

`verify` reads the lines back and names each problem with its line number: a line that
cannot be read, a line edited after it was written, lines deleted (a jump in `seq`), a line
that does not follow the one before it. Lines written before the chain existed (no `prev`)
are kept as they are: the chain starts at the first line that has `prev`, which links to the
last older line, and the report says from which line on the history is chained. The chain
shows changes made without recomputing it; deleting the last lines, or rewriting the whole
file with fresh hashes, needs the file's permissions or a copy kept elsewhere to notice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "genesis"
CHAIN_FIELDS = ("seq", "prev", "digest")


@dataclass(frozen=True)
class ChainProblem:
    """One line of the history that is not as it was written: where, and what happened."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class ChainReport:
    """What `verify` found: the lines, where the chain starts (None: no chained line yet)
    and every problem."""

    path: str
    lines: int = 0
    chained_from: int | None = None
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One sentence for a history without problems: how much of it is chained."""
        if self.lines == 0:
            return f"{self.path}: OK (empty)"
        if self.chained_from is None:
            return (
                f"{self.path}: OK, {self.lines} line(s) written before the chain existed; "
                "the next save starts it"
            )
        if self.chained_from == 1:
            return f"{self.path}: OK, all {self.lines} line(s) chained"
        return (
            f"{self.path}: OK, lines 1-{self.chained_from - 1} were written before the chain "
            f"existed (not checked); lines {self.chained_from}-{self.lines} are chained"
        )


def line_hash(line: bytes) -> str:
    """The link a line gives the next one: SHA-256 of its bytes without the newline."""
    return hashlib.sha256(line).hexdigest()


def content_digest(record: dict[str, Any]) -> str:
    """SHA-256 of a record's fields other than `digest`, as canonical JSON."""
    content = {k: v for k, v in record.items() if k != "digest"}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chained_line(record: dict[str, Any], lines_before: int, previous: bytes | None) -> str:
    """The JSON line for `record` as line `lines_before + 1`, linked to `previous` (the
    line before it, None for the first line). Chain fields already in `record` (a record
    read back) are replaced."""
    plain = json.loads(json.dumps(record, ensure_ascii=False, default=str))
    for key in CHAIN_FIELDS:
        plain.pop(key, None)
    plain["seq"] = lines_before + 1
    plain["prev"] = GENESIS if previous is None else line_hash(previous)
    plain["digest"] = content_digest(plain)
    return json.dumps(plain, ensure_ascii=False)


@dataclass(frozen=True)
class Append:
    """How to add a line to a history file: cut it back to `keep` bytes first (a line of
    our own whose write was cut short), then write `text` (which ends with a newline)."""

    keep: int | None
    text: str


def plan_append(existing: bytes, record: dict[str, Any]) -> Append:
    """The line to append after `existing` (the file's bytes). A last line without its
    newline is a write cut short: if it is the start of this very line (the same save,
    retried after a full disk), it is cut away and written whole; anything else is ended
    with a newline and kept as a line of its own, so `verify` reports it."""
    complete, _, tail = existing.rpartition(b"\n")
    lines = complete.split(b"\n") if complete else []
    if existing and not existing.endswith(b"\n"):
        line = chained_line(record, len(lines), lines[-1] if lines else None)
        if line.encode("utf-8").startswith(tail):
            return Append(len(existing) - len(tail), line + "\n")
        lines.append(tail)
        return Append(None, "\n" + chained_line(record, len(lines), tail) + "\n")
    line = chained_line(record, len(lines), lines[-1] if lines else None)
    return Append(None, line + "\n")


def verify(path: Path) -> ChainReport:
    """Check every line of the history at `path` (a missing file is an empty history)."""
    report = ChainReport(str(path))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return report
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    report.lines = len(raw_lines)
    shift = 0  # seq minus the line number: lines deleted (or added) so far
    explained = False  # the line before was reported: a bad link to it is no news
    for number, raw in enumerate(raw_lines, start=1):
        previous = raw_lines[number - 2] if number > 1 else None
        problem, shift, explained = _check_line(report, number, raw, previous, shift, explained)
        if problem is not None:
            report.problems.append(ChainProblem(str(path), number, problem))
    return report


UNLINKED = (
    "this line carries no link to the line before it (no 'prev'): it was added by hand, "
    "or by an older version of the app, after the chain started"
)
EDITED = "edited line: its content no longer matches the digest it was written with"
NO_SEQ = "edited line: its line number ('seq') is missing or not a number"
NOT_FIRST = (
    f"the first line does not start the chain ('prev' is not '{GENESIS}'): the lines "
    "before it were removed or its link was edited"
)


def _check_line(
    report: ChainReport,
    number: int,
    raw: bytes,
    previous: bytes | None,
    shift: int,
    explained: bool,
) -> tuple[str | None, int, bool]:
    """The problem with line `number` (None: none), the shift (seq minus line number) that
    holds from here on, and whether a bad link from the next line is explained by a problem
    reported here."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        what = "is empty" if not raw.strip() else f"is not a readable record ({exc})"
        return f"broken line: it {what}; it was garbled, cut short or edited by hand", shift, True
    if not isinstance(record, dict):
        return "broken line: it is not a record of a save", shift, True
    if "prev" not in record:
        if report.chained_from is None:
            return None, shift, False  # written before the chain existed
        return UNLINKED, shift, True
    if report.chained_from is None:
        report.chained_from = number
    seq = record.get("seq")
    if not isinstance(seq, int):
        return NO_SEQ, shift, True
    if record.get("digest") != content_digest(record):
        return EDITED, shift, True
    if seq - number != shift:
        missing = seq - number - shift
        if explained and missing == -1:
            return None, seq - number, False  # the line before, reported, was one added
        if missing > 0:
            what = f"{missing} line(s) before it were deleted (it was written as line {seq})"
        else:
            what = f"{-missing} line(s) before it were added (it was written as line {seq})"
        return f"gap in the history: {what}", seq - number, True
    if previous is None:
        return (None, shift, False) if record["prev"] == GENESIS else (NOT_FIRST, shift, True)
    if record["prev"] != line_hash(previous) and not explained:
        moved = (
            f"line {number - 1} is not the line this one was written after: the line before "
            "it was replaced, or lines were moved"
        )
        return moved, shift, True
    return None, shift, False
