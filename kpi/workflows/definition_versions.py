"""Versions and approvals of KPI definitions: what an editor holds, what both departments sign.

Two-key approval: an approval records who signed and the short hash of the signed content
of the entry (id, source, period_by, formula, targets and slice targets, direction, unit, owner;
`entry_version`). Changing any of them clears the approvals, and an agreed KPI goes back to
`proposed`; it is agreed again when finance and procurement have both approved that same
content. An approval counts only when its hash is the current content's and its signer is
in people.yaml and may sign for that department; one without a hash (written by hand), of
older content, by an unknown address or by someone of the other department counts as none
(`approval_checks` says why). Also here: the history of saves, and what the definitions
page lists and checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from pydantic import BaseModel
from ruamel.yaml import YAML

from kpi.core.people import DEPARTMENTS, Person
from kpi.core.permissions import find_person, signature_problem
from kpi.core.settings import Settings
from kpi.semantic.definitions import DefinitionsError, Issue
from kpi.workflows.history_chain import verify as verify_history
from kpi.workflows.yaml_splice import (
    as_data,
    commented_entry,
    comparable,
    find_entry,
    read_file,
    sha,
)

# Fields whose change alters what both departments signed: the number (view, period
# column, formula), what it is judged against (targets, and direction: which way is green)
# and how it reads and who answers for it (unit, owner). Changing one clears the approvals
# and sends an agreed KPI back to `proposed`.
SIGNED_FIELDS: tuple[str, ...] = (
    "source",
    "period_by",
    "formula",
    "targets",
    "direction",
    "unit",
    "owner",
)
SIGNED_SHOWN = "view, period column, formula, targets, direction, unit and owner"


def file_version(path: Path) -> str:
    """The token an editor holds: the SHA-256 of the file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def entry_version(entry: Mapping | BaseModel) -> str:
    """Short hash of what both departments sign: the id and SIGNED_FIELDS."""
    data = as_data(entry)
    signed = {key: data.get(key) for key in ("id", *SIGNED_FIELDS)}
    signed["formula"] = str(signed["formula"] or "").strip()
    signed["targets"] = {str(k): comparable(v) for k, v in (data.get("targets") or {}).items()}
    # slice targets are signed content too, but only when an entry has some: the content of
    # an entry without them hashes as it always did, so its approvals stay valid
    slices = _signed_slices(data.get("slice_targets"))
    if slices:
        signed["slice_targets"] = slices
    text = json.dumps(signed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _signed_slices(slices: object) -> list[dict]:
    """Slice targets in one canonical form (values as sorted text, targets as numbers, the
    slices in order of their filters), whether read from the file or from a definition."""
    out = []
    for item in slices if isinstance(slices, list) else []:
        if not isinstance(item, Mapping):
            continue
        where = item.get("where") if isinstance(item.get("where"), Mapping) else {}
        out.append(
            {
                "where": {
                    str(k): sorted({str(x) for x in (v if isinstance(v, list) else [v])})
                    for k, v in where.items()
                },
                "targets": {str(k): comparable(v) for k, v in (item.get("targets") or {}).items()},
            }
        )
    return sorted(out, key=lambda s: json.dumps(s["where"], sort_keys=True))


@dataclass(frozen=True)
class ApprovalCheck:
    """One department's approval as it stands: 'approved' (counts), 'void' (written, but
    does not count: `kind` and `reason` say why) or 'missing'. `signer` is the person of
    people.yaml who signed, when known."""

    state: str
    kind: str = ""  # void: 'no hash', 'older content', 'unknown signer', 'wrong department'
    reason: str = ""
    by: str | None = None
    on: str | None = None
    version: str | None = None
    signer: Person | None = None

    @property
    def counts(self) -> bool:
        return self.state == "approved"


def approval_checks(
    entry: Mapping | BaseModel, people: Sequence[Person]
) -> dict[str, ApprovalCheck]:
    """Finance's and procurement's approvals checked: an approval counts only when it names
    the entry's current content hash and its signer is in `people` (people.yaml, loaded once
    by the caller) and may sign for that department. Everything else is no approval."""
    data = as_data(entry)
    version = entry_version(data)
    approvals = data.get("approvals") or {}
    checks = {}
    for dept in DEPARTMENTS:
        given = approvals.get(dept) if isinstance(approvals, Mapping) else None
        checks[dept] = _check(given, dept, version, people)
    return checks


def _check(given: object, dept: str, version: str, people: Sequence[Person]) -> ApprovalCheck:
    if not isinstance(given, Mapping):
        return ApprovalCheck("missing")
    by, signed = given.get("by"), given.get("version")
    on = str(given["on"]) if given.get("on") is not None else None
    seen = {"by": str(by) if by is not None else None, "on": on}
    seen["version"] = str(signed) if signed is not None else None
    problem = signature_problem(by, dept, people)
    if not signed:
        return ApprovalCheck(
            "void",
            "no hash",
            "it names no content hash (written by hand?): approve it again in the app",
            **seen,
        )
    if problem:
        return ApprovalCheck("void", problem[0], problem[1], **seen)
    signer = find_person(by, people)
    if str(signed) != version:
        return ApprovalCheck(
            "void",
            "older content",
            f"it signed an older content ({signed}); the current content is {version}",
            **seen,
            signer=signer,
        )
    return ApprovalCheck("approved", **seen, signer=signer)


def approvals_state(entry: Mapping | BaseModel, people: Sequence[Person]) -> dict[str, str]:
    """For finance and procurement: 'approved', 'void' or 'missing' (see approval_checks)."""
    return {d: c.state for d, c in approval_checks(entry, people).items()}


def effective_status(entry: Mapping | BaseModel, people: Sequence[Person]) -> str:
    """The status to show: 'agreed' only with both departments' valid approvals."""
    data = as_data(entry)
    status = str(data.get("status") or "draft")
    if status == "agreed" and set(approvals_state(data, people).values()) != {"approved"}:
        return "proposed"
    return status


def still_to_sign(entry: Mapping | BaseModel, people: Sequence[Person]) -> list[str]:
    """The departments whose valid approval of the current content is still missing."""
    return [d for d, c in approval_checks(entry, people).items() if not c.counts]


def read_entry(path: Path, kpi_id: str) -> tuple[dict, str]:
    """A KPI's entry as written in the file (plain data) and the file's version, read
    together: what an edit form starts from."""
    raw = Path(path).read_bytes()
    _, entry = find_entry(read_file(Path(path), raw).entries, kpi_id, Path(path))
    return entry, sha(raw)


def entry_yaml(entry: Mapping) -> str:
    """A KPI entry as readable YAML (block style, fields in the file's order)."""
    yaml = YAML(typ="rt")
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(commented_entry(entry, None), buf)
    return buf.getvalue()


def history_path_for(path: Path) -> Path:
    """kpis.yaml → kpis.history.jsonl in the same folder."""
    path = Path(path)
    return path.with_name(f"{path.stem}.history.jsonl")


def kpi_history(
    path: Path, kpi_id: str | None = None, history_path: Path | None = None
) -> list[dict]:
    """Every recorded save (of one KPI, or all), newest first. A line that cannot be read
    is not a save to list, but it is not passed over in silence: `history_problems` (shown
    above the history on the definitions page) and `kpi check` name it."""
    hist = Path(history_path) if history_path else history_path_for(path)
    if not hist.exists():
        return []
    records = []
    for line in hist.read_bytes().split(b"\n"):
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue  # reported by history_problems; the rest still reads
        if isinstance(record, dict) and (kpi_id is None or record.get("kpi_id") == kpi_id):
            records.append(record)
    return records[::-1]


def history_problems(path: Path, history_path: Path | None = None) -> list[str]:
    """Every line of the history of the definitions at `path` that is not as it was
    written (garbled, edited, deleted, out of place), one sentence each with its line
    number (kpi.workflows.history_chain)."""
    hist = Path(history_path) if history_path else history_path_for(path)
    return [f"{hist.name}, line {p.line}: {p.message}" for p in verify_history(hist).problems]


APPROVAL_SHOWN = {
    "approved": "✓ approved",
    "void": "✗ void",
    "missing": "– not yet",
}


def approval_shown(check: ApprovalCheck) -> str:
    """One department's approval in a table cell: who signed and when, or why it does not
    count, or that it is still to come."""
    if check.state == "approved":
        who = check.signer.name if check.signer else check.by
        return f"✓ {who}, {check.on}" if check.on else f"✓ {who}"
    if check.state == "void":
        return f"✗ void: {check.kind}"
    return APPROVAL_SHOWN["missing"]


CATALOGUE_COLUMNS = (
    "id",
    "name",
    "owner",
    "theme",
    "unit",
    "status",
    "finance_approval",
    "procurement_approval",
    "to_sign",
    "description",
)


def entry_text(entry: dict) -> str:
    """One entry as a definitions file of its own, to check it exactly as `kpi check` does."""
    import yaml

    return yaml.safe_dump({"version": 1, "kpis": [entry]}, sort_keys=False, allow_unicode=True)


def check_candidate(text: str, settings: Settings | None = None) -> tuple[list, list[Issue]]:
    """The definitions a would-be file gives, or every issue `kpi check` would report."""
    from kpi.semantic.definitions import load_definitions

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder) / "kpis.yaml"
        tmp.write_text(text, encoding="utf-8")
        try:
            return load_definitions(tmp, settings), []
        except DefinitionsError as exc:
            return [], list(exc.issues)


def catalogue(definitions: Sequence, people: Sequence[Person]) -> pl.DataFrame:
    """One row per KPI with its effective status, each department's approval (who and when,
    or why it does not count) and who still has to sign its current content."""
    rows = []
    for k in definitions:
        checks = approval_checks(k, people)
        rows.append(
            {
                "id": k.id,
                "name": k.name,
                "owner": k.owner,
                "theme": k.theme,
                "unit": k.unit,
                "status": effective_status(k, people),
                "finance_approval": approval_shown(checks["finance"]),
                "procurement_approval": approval_shown(checks["procurement"]),
                "to_sign": ", ".join(d for d, c in checks.items() if not c.counts),
                "description": k.description,
            }
        )
    return pl.DataFrame(rows, schema=dict.fromkeys(CATALOGUE_COLUMNS, pl.String))


def targets_from_rows(rows: Sequence[tuple[object, object]]) -> tuple[dict, list[str]]:
    """(period, value) rows of a targets table → mapping, and the periods given twice."""
    import math

    targets: dict[str, float | None] = {}
    twice = []
    for period, value in rows:
        if period is None or not str(period).strip():
            continue
        label = str(period).strip()
        if label in targets:
            twice.append(label)
        bad = value is None or (isinstance(value, float) and math.isnan(value))
        targets[label] = None if bad else float(value)
    return targets, twice
