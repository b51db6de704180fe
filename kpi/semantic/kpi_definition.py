"""A KPI definition as finance and procurement agreed it: the typed model one entry of
config/kpis.yaml becomes once checked, and the issues and errors that reading reports."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic.json_schema import SkipJsonSchema

if TYPE_CHECKING:
    from sqlglot import exp

from kpi.core import periods

Owner = Literal["finance", "procurement", "joint"]
Theme = Literal["spend", "compliance", "savings", "payments", "inventory", "suppliers"]
Unit = Literal["currency", "percent", "days", "ratio", "count"]
Direction = Literal["higher_is_better", "lower_is_better", "target_is_best"]
Status = Literal["draft", "proposed", "agreed"]


ID_PATTERN = r"^[a-z][a-z0-9_]*$"


# ---------------------------------------------------------------------------------------
# Typed definitions
# ---------------------------------------------------------------------------------------


def _period_label(value: object) -> str:
    """A target's key: a month (2026-03), fiscal quarter (FY2026-Q1) or fiscal year (FY2026)."""
    if isinstance(value, date):
        raise ValueError(
            f"'{value.isoformat()}' is a day; targets are set per period: "
            "YYYY-MM, FY2026-Q1 or FY2026"
        )
    text = str(value).strip()
    try:
        periods.grain_of(text)
        periods.period_range(text, periods.FiscalCalendar())
    except periods.PeriodError:
        raise ValueError(
            f"'{text}' is not a period label: use a month (2026-03), a fiscal quarter "
            "(FY2026-Q1) or a fiscal year (FY2026)"
        ) from None
    return text


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"a target is a number, got {shown_value(value)}")
    return float(value)


def _empty_if_none(value: object) -> object:
    """`dimensions:` or `targets:` with nothing after them mean none, not a mistake."""
    return {} if value is None else value


def _no_items_if_none(value: object) -> object:
    return [] if value is None else value


PeriodLabel = Annotated[str, BeforeValidator(_period_label)]
Number = Annotated[float, BeforeValidator(_number)]
Text = Annotated[str, Field(min_length=1)]
Names = Annotated[list[str], BeforeValidator(_no_items_if_none)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Raci(_Strict):
    """Who is responsible, accountable, consulted and informed for a KPI."""

    responsible: Text
    accountable: Text
    consulted: Names = Field(default_factory=list)
    informed: Names = Field(default_factory=list)


class Readings(_Strict):
    """Each department's reading of the same number."""

    finance: Text
    procurement: Text


class Approval(_Strict):
    """One department's sign-off: who, when, and on which version."""

    by: Text
    on: date
    # Short hash of the signed content approved (kpi.workflows.definition_versions.entry_version);
    # an approval without it, or by someone not in people.yaml, counts as no approval.
    version: str | None = None


class Approvals(_Strict):
    """The sign-offs of finance and procurement."""

    finance: Approval | None = None
    procurement: Approval | None = None


def _slice_values(value: object) -> object:
    """A slice's value for one column: one value, or a list of values (sorted, no repeats)."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list) and value and all(isinstance(v, str | int) for v in value):
        return sorted({str(v) for v in value})
    raise ValueError(
        f"a slice names a value or a list of values of a column, got {shown_value(value)}"
    )


SliceValues = Annotated[list[str], BeforeValidator(_slice_values)]


class SliceTarget(_Strict):
    """Targets for one slice of a KPI: the filters that make the slice (column → value(s),
    exactly as the scorecard's filters are set) and a target per period. With those filters
    on, the scorecard judges the KPI against these targets instead of the company-wide ones."""

    where: Annotated[dict[str, SliceValues], Field(min_length=1)]
    targets: Annotated[dict[PeriodLabel, Number], Field(min_length=1)]

    def matches(self, filters: Mapping[str, Iterable[str]]) -> bool:
        """True when `filters` (column → values applied) are exactly this slice."""
        return {k: sorted(set(map(str, v))) for k, v in filters.items() if v} == dict(self.where)


def _no_slices_if_none(value: object) -> object:
    return [] if value is None else value


class KpiDefinition(_Strict):
    """One KPI as finance and procurement agreed it. `line` and `formula_tree` are not
    fields of the file: they say where the entry starts and hold the guarded formula."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, max_length=64)
    name: Text
    owner: Owner
    theme: Theme
    raci: Raci
    description: Text
    readings: Readings
    source: str
    period_by: str
    formula: Text
    unit: Unit
    direction: Direction
    dimensions: Names = Field(default_factory=list)
    targets: Annotated[dict[PeriodLabel, Number], BeforeValidator(_empty_if_none)] = Field(
        default_factory=dict
    )
    # targets for slices (a category, a cost centre...), judged when those filters are on;
    # in the reporting currency like `targets`
    slice_targets: Annotated[list[SliceTarget], BeforeValidator(_no_slices_if_none)] = Field(
        default_factory=list
    )
    status: Status
    approvals: Annotated[Approvals, BeforeValidator(_empty_if_none)] = Field(
        default_factory=Approvals
    )
    notes: str | None = None
    line: SkipJsonSchema[int] = Field(default=0, exclude=True)
    _tree: FormulaTree | None = PrivateAttr(default=None)

    @property
    def formula_tree(self) -> exp.Expression | None:
        """The guarded formula (None until checked: see `with_tree`)."""
        return None if self._tree is None else self._tree.get()

    def with_tree(self, tree: FormulaTree) -> KpiDefinition:
        """This definition carrying the formula tree the guard accepted (or its recipe)."""
        copy = self.model_copy()
        copy._tree = tree
        return copy


class FormulaTree:
    """A KPI's guarded formula tree, or the recipe to make it again: parsed when first asked
    for. Why: definitions read back from the user's cache (kpi.semantic.definitions) need no
    tree when a kept plan answers (`kpi compute`), and parsing every formula, sqlglot's
    DuckDB dialect imported for it, was a quarter of that command's own work.

    Equal when their trees are equal; pickled as the tree."""

    def __init__(
        self,
        tree: exp.Expression | None = None,
        recipe: tuple[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._made = tree
        self._recipe = recipe  # (formula text the guard accepted, the view's column names)

    def get(self) -> exp.Expression | None:
        made = self._made
        if made is None and self._recipe is not None:
            from kpi.semantic.formula_guard import accepted_tree

            made = self._made = accepted_tree(*self._recipe)
        return made

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FormulaTree) and self.get() == other.get()

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, object]:
        return {"_made": self.get(), "_recipe": None}


# Keys a person may write in an entry (the model's fields without the bookkeeping ones).
FIELDS: tuple[str, ...] = tuple(n for n in KpiDefinition.model_fields if n != "line")


# ---------------------------------------------------------------------------------------
# Issues
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """One problem in the definitions file: where it is, what is wrong, what to do."""

    path: str
    line: int | None
    kpi_id: str | None
    field: str | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        scope = []
        if self.kpi_id:
            scope.append(f"kpi '{self.kpi_id}'")
        if self.field:
            scope.append(f"field '{self.field}'")
        head = f"{where}: {', '.join(scope)}: " if scope else f"{where}: "
        return head + self.message + (f" ({self.hint})" if self.hint else "")


class DefinitionsError(ValueError):
    """The definitions file has problems; `issues` holds every one of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        path = issues[0].path if issues else "definitions"
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"{path}: {len(issues)} problem(s) in the KPI definitions:\n{lines}")


class UnknownKpi(ValueError):
    """A KPI id that is not in the catalogue."""


def get(definitions: Iterable[KpiDefinition], kpi_id: str) -> KpiDefinition:
    """The definition with this id, or UnknownKpi naming the ids there are."""
    known = {d.id: d for d in definitions}
    if kpi_id in known:
        return known[kpi_id]
    close = difflib.get_close_matches(kpi_id, list(known), n=3)
    hint = f" Did you mean {either(close)}?" if close else ""
    listed = ", ".join(sorted(known)) or "(none)"
    raise UnknownKpi(f"unknown KPI '{kpi_id}'.{hint} Known KPIs: {listed}")


# ---- wording shared with the file's checks -----------------------------------------------


def either(names: list[str]) -> str:
    """'a' or 'b' or 'c', for suggestions in messages."""
    return " or ".join(f"'{n}'" for n in names)


def shown_value(value: object) -> str:
    """A value from the file as a message quotes it."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, date):
        return f"'{value.isoformat()}'"
    return repr(value) if not isinstance(value, str) else f"'{value}'"
