"""Versions and approvals of KPI definitions: what an editor holds, what both departments sign.

Two-key approval: an approval records the short hash of the signed content of the entry
(id, source, period_by, formula, targets; `entry_version`). Changing any of them clears
the approvals, and an agreed KPI goes back to `proposed`; it is agreed again when finance
and procurement have both approved that same content. An approval whose hash no longer
matches is void; one written by hand without a hash is taken at face value. Also here:
the history of saves, and what the definitions page lists and checks.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl
from pydantic import BaseModel
from ruamel.yaml import YAML

from kpi.core.people import DEPARTMENTS
from kpi.core.settings import Settings
from kpi.semantic.definitions import DefinitionsError, Issue
from kpi.workflows.history_chain import verify as verify_history
from kpi.workflows.yaml_splice import (
    SourceFile,
    as_data,
    commented_entry,
    comparable,
    find_entry,
    plain,
    sha,
)

# Fields whose change alters the number both departments signed: changing one clears the
# approvals and sends an agreed KPI back to `proposed`.
SIGNED_FIELDS: tuple[str, ...] = ("source", "period_by", "formula", "targets")


def file_version(path: Path) -> str:
    """The token an editor holds: the SHA-256 of the file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def entry_version(entry: Mapping | BaseModel) -> str:
    """Short hash of what both departments sign: id, source, period_by, formula, targets."""
    data = as_data(entry)
    signed = {key: data.get(key) for key in ("id", *SIGNED_FIELDS)}
    signed["formula"] = str(signed["formula"] or "").strip()
    signed["targets"] = {str(k): comparable(v) for k, v in (data.get("targets") or {}).items()}
    text = json.dumps(signed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def approvals_state(entry: Mapping | BaseModel) -> dict[str, str]:
    """For finance and procurement: 'approved' (this content, or by hand without a
    version), 'void' (approved another content) or 'missing'."""
    data = as_data(entry)
    version = entry_version(data)
    approvals = data.get("approvals") or {}
    state = {}
    for dept in DEPARTMENTS:
        given = approvals.get(dept) if isinstance(approvals, Mapping) else None
        if not isinstance(given, Mapping):
            state[dept] = "missing"
        elif given.get("version") in (None, version):
            state[dept] = "approved"
        else:
            state[dept] = "void"
    return state


def effective_status(entry: Mapping | BaseModel) -> str:
    """The status to show: 'agreed' only with both departments' valid approvals."""
    data = as_data(entry)
    status = str(data.get("status") or "draft")
    if status == "agreed" and set(approvals_state(data).values()) != {"approved"}:
        return "proposed"
    return status


def read_entry(path: Path, kpi_id: str) -> tuple[dict, str]:
    """A KPI's entry as written in the file (plain data) and the file's version, read
    together: what an edit form starts from."""
    raw = Path(path).read_bytes()
    source = SourceFile.parse(Path(path), raw, None)
    _, entry = find_entry(source.entries, kpi_id, Path(path))
    return plain(entry), sha(raw)


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
    "void": "✗ void (older version)",
    "missing": "– not yet",
}
CATALOGUE_COLUMNS = (
    "id",
    "name",
    "owner",
    "theme",
    "unit",
    "status",
    "finance_approval",
    "procurement_approval",
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


def catalogue(definitions: Sequence) -> pl.DataFrame:
    """One row per KPI with its effective status and each department's approval state."""
    rows = []
    for k in definitions:
        state = approvals_state(k)
        rows.append(
            {
                "id": k.id,
                "name": k.name,
                "owner": k.owner,
                "theme": k.theme,
                "unit": k.unit,
                "status": effective_status(k),
                "finance_approval": APPROVAL_SHOWN[state["finance"]],
                "procurement_approval": APPROVAL_SHOWN[state["procurement"]],
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
