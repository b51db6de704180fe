"""The meeting pack's first section: what the meeting settles for the planned quarter.

The targets already agreed (latest decision per KPI, who signed), the KPIs still without
one with both departments' proposals and the step each needs, the goal decisions still
under discussion (unresolved threads, who each waits for) and the KPIs off target in the
scorecard's quarter: on paper the meeting starts from its decisions and open items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from kpi.core.formatting import format_value
from kpi.reporting.pack_html import e as _e
from kpi.reporting.pack_html import signer as _signer
from kpi.reporting.pack_html import table as _table
from kpi.reporting.scorecard_view import for_display
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.workflows.threads import OpenThread, parse_subject

EXCERPT_CHARS = 160  # of a thread's last comment, on paper


def agenda_section(
    plan: str,
    definitions: Sequence[KpiDefinition],
    decided: pl.DataFrame,
    proposed: Mapping[str, Mapping[str, Any]],
    forecasts: Mapping[str, Mapping[str, Any]],
    card: pl.DataFrame | None,
    display: str,
    discussions: Sequence[OpenThread] = (),
) -> str:
    """What the meeting settles, first: the targets agreed for `plan` (latest decision per
    KPI, who signed), the KPIs still without one (what each department proposes and what
    is needed), the unresolved threads on its goal decisions (who each waits for) and the
    KPIs off target in the scorecard's quarter."""
    latest = decided.unique("kpi", keep="first", maintain_order=True)  # newest first
    agreed = {r["kpi"]: r for r in latest.iter_rows(named=True)}
    by_id = {k.id: k for k in definitions}
    open_kpis = [k for k in definitions if k.id not in agreed]
    off = card.filter(pl.col("status") == "red") if card is not None else None
    parts = [
        f"<h2 class='first'>{_e(f'Decisions and open items for {plan}')}</h2>",
        "<div class='cards'>",
        _card("Targets agreed", f"{len(agreed)} of {len(definitions)}", "done"),
        _card("Targets still open", str(len(open_kpis)), "warn" if open_kpis else "done"),
        _card(
            "Discussions open",
            str(len(discussions)),
            "warn" if discussions else "done",
        ),
        _card(
            "Off target last quarter",
            "–" if off is None else str(off.height),
            "warn" if off is not None and off.height else "done",
        ),
        "</div>",
        "<h3>Agreed targets and who signed</h3>",
    ]
    if not agreed:
        parts.append("<p class='note'>No target has been agreed for this quarter yet.</p>")
    else:
        rows = [
            [
                by_id[r["kpi"]].name if r["kpi"] in by_id else r["kpi"],
                _target(r["value"], by_id.get(r["kpi"]), display),
                r["rationale"] or "",
                _signer(r, "finance"),
                _signer(r, "procurement"),
                f"{r['decided_at']:%Y-%m-%d %H:%M}",
            ]
            for r in agreed.values()
        ]
        head = ["KPI", "Target", "Rationale", "Finance", "Procurement", "When (UTC)"]
        parts.append(_table(head, rows, {1}))
    # short and pressing: before the long list of open targets, so it stays on page one
    parts.append("<h3>Open: goal decisions still under discussion</h3>")
    if not discussions:
        parts.append(
            "<p class='note'>No goal-decision thread of this quarter is waiting: none is "
            "open, or every one was marked resolved on the Quarterly goals page.</p>"
        )
    else:
        rows = [_discussion_row(t, by_id) for t in discussions]
        head = ["KPI", "Waiting for", "Asked by", "Last comment", "Comments"]
        parts.append(_table(head, rows, {4}))
    parts.append("<h3>Open: targets still to agree</h3>")
    if not open_kpis:
        parts.append("<p class='note'>Every KPI has an agreed target for this quarter.</p>")
    else:
        rows = [_open_row(k, proposed.get(k.id), forecasts.get(k.id), display) for k in open_kpis]
        head = ["KPI", "Forecast", "Finance proposes", "Procurement proposes", "What is needed"]
        parts.append(_table(head, rows, {1, 2, 3}))
    if off is not None and off.height:
        shown = for_display(off, display)
        rows = [
            [r["name"], r["Value"], r["Target"], r["Change"]] for r in shown.iter_rows(named=True)
        ]
        parts.append("<h3>Open: off target last quarter</h3>")
        parts.append(_table(["KPI", "Value", "Target", "Change"], rows, {1, 2, 3}))
    return "\n".join(parts)


def _open_row(
    k: KpiDefinition,
    proposal: Mapping[str, Any] | None,
    forecast: Mapping[str, Any] | None,
    display: str,
) -> list[str]:
    """A KPI without an agreed target: both proposals and the step the meeting must take."""
    fin = proposal["finance_value"] if proposal else None
    proc = proposal["procurement_value"] if proposal else None
    if fin is None and proc is None:
        needed = "Both departments to propose a target"
    elif proc is None:
        needed = "Procurement to propose, then both to sign"
    elif fin is None:
        needed = "Finance to propose, then both to sign"
    elif fin == proc:
        needed = "Same target proposed: both to sign it"
    else:
        needed = "Agree one target between the two proposals, then both to sign"
    return [
        k.name,
        _target(forecast["forecast"] if forecast else None, k, display),
        _target(fin, k, display),
        _target(proc, k, display),
        needed,
    ]


def _discussion_row(t: OpenThread, by_id: Mapping[str, KpiDefinition]) -> list[str]:
    """An unresolved goal-decision thread: whom it waits for since when, who asked, and its
    last word (quoted as text, shortened)."""
    kpi_id = parse_subject(t.subject)[1].partition("/")[2]
    name = by_id[kpi_id].name if kpi_id in by_id else kpi_id
    if t.waiting_for:
        waiting = ", ".join(t.waiting_for)
        if t.since is not None:
            waiting += f" (since {t.since:%Y-%m-%d})"
    else:
        waiting = "Nobody named: reply or mark it resolved"
    text = " ".join(t.last.text.split())
    if len(text) > EXCERPT_CHARS:
        text = text[: EXCERPT_CHARS - 1] + "…"
    last = f"{t.last.author_name}, {t.last.created_at:%Y-%m-%d %H:%M} UTC: “{text}”"
    asked = ", ".join(dict.fromkeys(t.asked_by)) or "–"
    return [name, waiting, asked, last, str(t.comments)]


def _target(value: float | None, k: KpiDefinition | None, display: str) -> str:
    return "–" if value is None or k is None else format_value(value, k.unit, display)


def _card(label: str, figure: str, tone: str) -> str:
    return (
        f"<div class='card {_e(tone)}'><div class='meta'>{_e(label)}</div>"
        f"<div class='figure'>{_e(figure)}</div></div>"
    )
