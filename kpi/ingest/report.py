"""The outcome of a load: the refusal that stops it whole, and the per-file report it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

LOADED, UNCHANGED = "loaded", "unchanged (already loaded)"
AUDIT_LOGS = {"savings_initiatives": "initiative_changes", "price_outlook": "outlook_changes"}


class LoadRefused(Exception):
    """A file (or the whole command) cannot be loaded; nothing of the command was loaded."""


# ---- the report --------------------------------------------------------------------------
@dataclass
class FileResult:
    """What happened to one file of a load."""

    file: Path
    status: str = LOADED
    rows_in: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    replaced: int = 0  # rows already in the store that this file's rows replaced (same key)
    amount: Decimal | None = None  # total `amount` of the loaded rows (tables with amount)
    load_id: int | None = None
    previous_load_id: int | None = None  # when unchanged: the load that brought these bytes
    ignored_columns: list[str] = field(default_factory=list)  # file columns no table column uses
    file_name: str | None = None  # an upload's own name (its path is a temporary copy)
    verdicts_ignored: str = ""  # finance's verdict columns the file or mapping tried to set
    audit_rows: int = 0  # rows written to the table's audit log (audited tables)
    back_to_pending: int = 0  # initiatives finance had judged whose money fields changed
    # cost centre codes the cost_centres table lacks (loaded all the same; only unnamed)
    unknown_cost_centres: str = ""

    @property
    def name(self) -> str:
        """How the report names the file: an upload's own name, else the path as given."""
        return self.file_name or str(self.file)

    @property
    def pending_note(self) -> str:
        n = self.back_to_pending
        if not n:
            return ""
        return (
            f"{n} initiative{'s' * (n != 1)} finance had judged went back to pending: "
            "money fields changed"
        )


@dataclass
class LoadReport:
    """The outcome of one `load_files` call: one result per file, in the order given.

    A file reported unchanged counts 0 rows in, loaded and rejected in this report: this
    command did nothing with it (its earlier load is named by `previous_load_id`).
    """

    table: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    @property
    def replaced(self) -> int:
        return sum(f.replaced for f in self.files)

    @property
    def amount(self) -> Decimal | None:
        amounts = [f.amount for f in self.files if f.amount is not None]
        return sum(amounts, Decimal("0.00")) if amounts else None

    def as_table(self) -> str:
        """Rows in / loaded / rejected per file and in total, as plain aligned text."""
        from kpi.store.schema import TABLES  # not at the top: the reading child needs none

        with_amount = "amount" in TABLES[self.table].column_names
        head = ["file", "status", "rows in", "loaded", "rejected", "replaced"]
        head += ["amount"] if with_amount else []
        rows = [_report_row(f.name, f.status, f, with_amount) for f in self.files]
        n = len(self.files)
        rows.append(_report_row(f"total ({n} file{'s' * (n != 1)})", "", self, with_amount))
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines = [_align(head, widths)] + [_align(r, widths) for r in rows]
        lines.insert(-1, "-" * len(lines[0]))
        notes = [
            f"{f.name}: these bytes were loaded before (load {f.previous_load_id}); skipped"
            for f in self.files
            if f.status == UNCHANGED
        ]
        notes += [
            f"{f.name}: column(s) not loaded, no {self.table} column has their name: "
            + ", ".join(f.ignored_columns)
            for f in self.files
            if f.ignored_columns and f.status != UNCHANGED
        ]
        notes += [f"{f.name}: {f.verdicts_ignored}" for f in self.files if f.verdicts_ignored]
        notes += [f"{f.name}: {f.pending_note}" for f in self.files if f.pending_note]
        notes += [
            f"{f.name}: {f.unknown_cost_centres}" for f in self.files if f.unknown_cost_centres
        ]
        audited = sum(f.audit_rows for f in self.files)
        if audited:
            where = AUDIT_LOGS.get(self.table, "audit log")
            notes.append(f"{audited} change(s) recorded in {where} (who, when, old and new).")
        if self.rows_rejected:
            notes.append(
                f"{self.rows_rejected} rejected row(s) are kept with their reasons in the "
                "store's `rejects` table."
            )
        return "\n".join([f"Table {self.table}:", *lines, *notes])


def _report_row(name: str, status: str, r: FileResult | LoadReport, amount: bool) -> list[str]:
    cells = [name, status, str(r.rows_in), str(r.rows_loaded), str(r.rows_rejected)]
    cells.append(str(r.replaced))
    if amount:
        cells.append("" if r.amount is None else f"{r.amount:.2f}")
    return cells


def _align(cells: list[str], widths: list[int]) -> str:
    left = [c.ljust(w) for c, w in zip(cells[:2], widths[:2], strict=True)]
    right = [c.rjust(w) for c, w in zip(cells[2:], widths[2:], strict=True)]
    return "  ".join(left + right).rstrip()
