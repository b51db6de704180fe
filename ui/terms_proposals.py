"""The Payment terms page's proposals: finance proposes, procurement answers, both sign.

Thin over kpi.workflows.terms_proposals (the record and its rules) and
kpi.workflows.terms_tracking (the figures). `?proposal=ID` opens one proposal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import streamlit as st

from kpi.analyses.terms import PaymentPolicy, ScenarioError, list_scenarios
from kpi.core.formatting import format_money, format_time
from kpi.core.permissions import PermissionDenied, approving_department, terms_refusal
from kpi.store.database import StoreError
from kpi.workflows import terms_proposals as tp
from kpi.workflows.terms_proposals import Proposal, ProposalError, SupplierAnswer
from kpi.workflows.terms_tracking import MONEY, side_by_side, tracking
from ui.context import Context
from ui.threads import thread_panel
from ui.widgets import downloads, literal, no_data, show_table, time_zone

ANSWER_WORDS = {"—": None, "Accept": "accept", "Counter-offer": "counter", "Refuse": "refuse"}
MONEY_WORDS = {
    "cash_released": "Cash released",
    "annual_financing_benefit": "Yearly value of it",
    "discounts_forgone": "Discounts forgone",
    "supplier_price_passthrough": "Price pass-through",
    "net_benefit": "Net benefit a year",
}
# problems a write can meet: the message says what to do, never a traceback
REFUSED = (PermissionDenied, ProposalError, ScenarioError, StoreError)


def proposals_tab(ctx: Context, policy: PaymentPolicy) -> None:
    """The tab: make a proposal from a saved scenario, the list, and the one opened."""
    st.caption(
        "Payment terms are a proposal, not an order: finance proposes a saved scenario's "
        "suppliers and terms, procurement answers per supplier (accept, counter-offer, "
        "refuse) with the price pass-through it expects and the relationship risk, and the "
        "simulator recomputes the proposal with procurement's figures beside finance's. Any "
        "change makes a new version and voids the signatures on earlier ones; the proposal "
        "is agreed when finance (a member or the CFO) and a procurement member have signed "
        "the same version."
    )
    flash()
    _new_proposal(ctx, policy)
    try:
        listed = tp.list_proposals(ctx.store)
    except StoreError as exc:
        st.error(str(exc))
        return
    if listed.is_empty():
        no_data(
            "terms proposal",
            "Finance saves a scenario in the **Terms simulator** tab, then makes it a "
            "proposal here.",
        )
        return
    st.subheader("Proposals")
    show_table(
        listed.select(
            "proposal_id", "title", "status", "scenario_name", "created_by", "created_at",
            "closed_by", "closed_reason",
        ),
        key="tp_list",
    )  # fmt: skip
    ids = listed["proposal_id"].to_list()
    wanted = st.query_params.get("proposal")
    chosen = int(wanted) if wanted and wanted.isdigit() and int(wanted) in ids else None
    titles = dict(zip(ids, listed["title"].to_list(), strict=True))
    pick = st.selectbox(
        "Open proposal",
        [None, *ids],
        index=0 if chosen is None else ids.index(chosen) + 1,
        format_func=lambda i: "Choose a proposal…" if i is None else f"{i} · {titles[i]}",
        key=f"tp_pick_{chosen}",
    )
    if pick is None:
        return
    if str(pick) != wanted:
        st.query_params["proposal"] = str(pick)
    _proposal(ctx, int(pick), policy)


def _new_proposal(ctx: Context, policy: PaymentPolicy) -> None:
    refusal = terms_refusal(ctx.person, "finance")
    with st.expander("Make a proposal from a saved scenario", expanded=False):
        if refusal:
            st.caption(refusal)
            return
        saved = list_scenarios(ctx.store)
        if saved.is_empty():
            no_data("saved scenario", "Simulate in the **Terms simulator** tab and save it.")
            return
        names = dict(zip(saved["scenario_id"].to_list(), saved["name"].to_list(), strict=True))
        with st.form("tp_new"):
            sid = st.selectbox(
                "Scenario", list(names), format_func=lambda i: f"{i} · {names[i]}", key="tp_sid"
            )
            title = st.text_input("Title", key="tp_title")
            suppliers = st.text_input(
                "Suppliers (IDs separated by commas; empty: all of the scenario's)",
                key="tp_suppliers",
            )
            start = st.date_input("New terms apply from", value=_next_month(), key="tp_start")
            reason = st.text_area("Why finance proposes it", key="tp_reason")
            go = st.form_submit_button("Propose to procurement", type="primary", key="tp_go")
        if go:
            ids = [s.strip() for s in suppliers.split(",") if s.strip()] or None
            try:
                pid = tp.propose(ctx.store, ctx.person, sid, title, reason, supplier_ids=ids,
                                 effective_from=start, policy=policy)  # fmt: skip
            except REFUSED as exc:
                st.error(str(exc))
                return
            st.cache_data.clear()
            st.query_params["proposal"] = str(pid)
            st.success(f"Proposal {pid} made; procurement sees it waiting for its answer.")


def _proposal(ctx: Context, pid: int, policy: PaymentPolicy) -> None:
    try:
        proposal = tp.get(ctx.store, pid)
        table, totals = side_by_side(ctx.store, proposal, policy)
    except REFUSED as exc:
        st.error(str(exc))
        return
    # a write acts on the version the person read (the last run's), never on one that
    # arrived meanwhile: the library then refuses it and says what changed
    seen_key = f"_tp_seen_{pid}"
    seen = st.session_state.get(seen_key, proposal.version)
    st.session_state[seen_key] = proposal.version
    rec = proposal.record
    st.subheader(f"Proposal {pid}: {literal(rec['title'])}")
    status = {
        "open": "open",
        "agreed": f"**agreed** (version {rec['agreed_version']})",
        "refused": "**refused** by procurement",
        "withdrawn": "**withdrawn** by finance",
    }[proposal.status]
    st.markdown(
        f"Status: {status} · version {proposal.version} · new terms apply from "
        f"{proposal.effective_from} · spend year {rec['window_start']} to {rec['window_end']} "
        f"· amounts in **{rec['currency']}** · from scenario {rec['scenario_id']} "
        f"'{literal(rec['scenario_name'])}' · proposed by {literal(rec['created_by_name'])}"
    )
    if rec["closed_reason"] and proposal.status in ("refused", "withdrawn"):
        st.info(f"Why: {literal(rec['closed_reason'])}", icon="ℹ️")
    currency = rec["currency"]
    left, right = st.columns(2)
    for col, side, label in (
        (left, "finance", "Finance's first view"),
        (right, "procurement", "With procurement's figures"),
    ):
        col.markdown(f"**{label}**")
        if side == "procurement" and len(proposal.unanswered) == proposal.lines.height:
            col.markdown("Procurement has not answered yet: its figures come with its answer.")
            continue
        for key in MONEY:
            col.markdown(f"{MONEY_WORDS[key]}: {format_money(totals[side][key], currency)}")
    if proposal.unanswered:
        st.caption(
            f"Procurement has not answered {len(proposal.unanswered)} supplier(s) yet: its "
            "column leaves them out."
        )
    st.markdown("**Per supplier: the days proposed and procurement's answer**")
    answers = answers_view(table)
    show_table(answers, key=f"tp_table_{pid}", column_config=_text_columns(answers))
    reasons = answer_reasons(table)
    if reasons:
        st.markdown("Procurement's reasons:\n" + reasons)
    st.markdown(f"**Per supplier: finance's first view and procurement's, in {currency}**")
    money = money_view(table, currency)
    show_table(money, key=f"tp_money_{pid}", column_config=_text_columns(money))
    downloads(table, f"terms_proposal_{pid}_v{proposal.version}", f"tp_{pid}", scope=None)
    _signatures(proposal)
    if proposal.status == "open":
        _answer_form(ctx, proposal, seen)
        _revise_form(ctx, proposal, policy, seen)
        _sign_form(ctx, proposal, table, seen)
        _end_form(ctx, proposal)
    if proposal.status == "agreed":
        _tracking(ctx, proposal)
    with st.expander("History (who, when, why)"):
        log = tp.history(ctx.store, pid)  # people by name: the e-mail stays in the store
        show_table(log.rename({"by_email": "done_by"}).drop("by_name"), key=f"tp_history_{pid}")
    # the proposal's discussion: both departments work the terms out here, not by e-mail
    thread_panel(ctx.store, ctx.person, f"terms_proposal:{pid}", title=f"terms proposal {pid}")


# The comparison on screen: two narrow tables of text cells, so that every column fits a
# 1280 px screen and an empty cell reads "—" (st.dataframe writes "None" for an empty number).
# Money is written as the app writes it elsewhere (format_money, exact from the Decimal);
# the download keeps every column as numbers.
EMPTY = "—"
ANSWER_SHOWN = {"accept": "accepted", "counter": "counter-offer", "refuse": "refused"}
ANSWER_COLUMNS = {
    "supplier": ("Supplier", "left"),
    "terms_days": ("Terms (d)", "right"),
    "paid_in_days": ("Paid in (d)", "right"),
    "finance_days": ("Finance (d)", "right"),
    "procurement_days": ("Procurement (d)", "right"),
    "answer": ("Answer", "left"),
    "passthrough": ("Pass-through", "right"),
    "risk": ("Risk", "left"),
}
MONEY_SHORT = {
    "cash_released": "Cash released",
    "annual_financing_benefit": "Yearly value",
    "discounts_forgone": "Discounts forgone",
    "supplier_price_passthrough": "Pass-through",
    "net_benefit": "Net benefit a year",
}
MONEY_COLUMNS = {
    "supplier": ("Supplier", "left"),
    "view": ("Figures of", "left"),
    **{k: (label, "right") for k, label in MONEY_SHORT.items()},
}


def answers_view(table: pl.DataFrame) -> pl.DataFrame:
    """One row per supplier: its terms, the days each side puts it on, procurement's answer
    (its reasons are sentences: `answer_reasons` lists them under the table)."""
    rows = [
        {
            "supplier": _supplier(r),
            "terms_days": _shown(r["payment_terms_days"]),
            "paid_in_days": _shown(r["today_days"]),
            "finance_days": _shown(r["proposed_days"]),
            "procurement_days": _shown(r["procurement_days"]),
            "answer": ANSWER_SHOWN.get(r["answer"] or "", EMPTY),
            "passthrough": _pct(r["passthrough_pct"]),
            "risk": r["relationship_risk"] or EMPTY,
        }
        for r in table.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(ANSWER_COLUMNS, pl.String))


def answer_reasons(table: pl.DataFrame) -> str:
    """Procurement's reason for each supplier it answered, one line each ("" when none)."""
    return "\n".join(
        f"- {literal(_supplier(r))}: {literal(r['answer_reason'])}"
        for r in table.iter_rows(named=True)
        if r["answer_reason"]
    )


def money_view(table: pl.DataFrame, currency: str) -> pl.DataFrame:
    """Two rows per supplier, finance's first view above procurement's, the five figures as
    columns; a supplier procurement has not answered yet has "—" in procurement's row."""
    rows = []
    for r in table.iter_rows(named=True):
        for view, prefix in (("Finance", ""), ("Procurement", "procurement_")):
            money = {k: _money(r[f"{prefix}{k}"], currency) for k in MONEY}
            rows.append({"supplier": _supplier(r), "view": view, **money})
    return pl.DataFrame(rows, schema=dict.fromkeys(MONEY_COLUMNS, pl.String))


TRACKING_COLUMNS = {
    "period": ("Month", "left"),
    "supplier": ("Supplier", "left"),
    "days_before": ("Before (d)", "right"),
    "agreed_days": ("Agreed (d)", "right"),
    "days_to_pay": ("Paid in (d)", "right"),
    "days_gap": ("Gap (d)", "right"),
    "planned_price_change": ("Price plan", "right"),
    "price_change": ("Price change", "right"),
    "spend": ("Spend", "right"),
}


def tracking_view(frame: pl.DataFrame, currency: str) -> pl.DataFrame:
    """The tracking as read on screen, narrow enough for 1280 px: days with one decimal,
    percents with a % sign, spend as money, "—" where a month has no figure."""
    rows = [
        {
            "period": r["period"],
            "supplier": _supplier(r),
            "days_before": _shown(r["days_before"]),
            "agreed_days": _shown(r["agreed_days"]),
            "days_to_pay": _one_decimal(r["days_to_pay"]),
            "days_gap": _one_decimal(r["days_gap"], "+"),
            "planned_price_change": _pct_float(r["planned_price_change_pct"]),
            "price_change": _pct_float(r["price_change_pct"]),
            "spend": _money(r["spend"], currency),
        }
        for r in frame.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(TRACKING_COLUMNS, pl.String))


def _one_decimal(value: float | None, sign: str = "") -> str:
    return EMPTY if value is None else f"{value:{sign},.1f}"


def _pct_float(value: float | None) -> str:
    return EMPTY if value is None else f"{value:,.2f} %"


def _text_columns(frame: pl.DataFrame) -> dict:
    """Headers in words for the comparison and tracking tables; figures right-aligned."""
    known = {**ANSWER_COLUMNS, **MONEY_COLUMNS, **TRACKING_COLUMNS}
    return {
        c: st.column_config.TextColumn(known[c][0], alignment=known[c][1]) for c in frame.columns
    }


def _supplier(r: dict) -> str:
    return f"{r['supplier_id']} · {r['supplier_name']}" if r["supplier_name"] else r["supplier_id"]


def _shown(value: object) -> str:
    return EMPTY if value is None else str(value)


def _money(value: Decimal | None, currency: str) -> str:
    return EMPTY if value is None else format_money(value, currency)  # type: ignore[arg-type]


def _signatures(proposal: Proposal) -> None:
    sigs = proposal.signatures
    if sigs.is_empty():
        st.caption("No signature yet.")
        return
    lines = []
    for r in sigs.iter_rows(named=True):
        when = format_time(r["signed_at"], time_zone())
        state = f"void: {r['void_reason']}" if r["voided_at"] else "stands"
        lines.append(
            f"- version {r['version']}, for {r['department']}: {literal(r['signed_by_name'])} "
            f"on {when} — {literal(r['reason'])} ({state})"
        )
    st.markdown("**Signatures**\n" + "\n".join(lines))


def _answer_form(ctx: Context, proposal: Proposal, seen: int) -> None:
    if approving_department(ctx.person) != "procurement":
        return
    pid, version = proposal.proposal_id, proposal.version
    st.markdown("**Procurement's answer per supplier**")
    with st.form(f"tp_answer_{pid}_{version}"):
        fields = []
        for r in proposal.lines.iter_rows(named=True):
            s = r["supplier_id"]
            st.markdown(
                f"{literal(s)} · {literal(r['supplier_name'])}: terms "
                f"{r['payment_terms_days']} → {r['proposed_days']} d proposed"
            )
            a, b, c, d, e = st.columns([2, 1, 1, 1, 3])
            word = next((w for w, v in ANSWER_WORDS.items() if v == r["answer"]), "—")
            fields.append(
                (
                    s,
                    a.selectbox("Answer", list(ANSWER_WORDS), list(ANSWER_WORDS).index(word),
                                key=f"tp_ans_{pid}_{s}"),
                    b.number_input("Counter days", 0, 365, int(r["counter_days"] or
                                   r["proposed_days"]), key=f"tp_cd_{pid}_{s}"),
                    c.text_input("Pass-through %", str(r["passthrough_pct"] or ""),
                                 key=f"tp_pt_{pid}_{s}"),
                    d.selectbox("Risk", tp.RISKS, tp.RISKS.index(r["relationship_risk"] or
                                "low"), key=f"tp_risk_{pid}_{s}"),
                    e.text_input("Reason", r["answer_reason"] or "", key=f"tp_why_{pid}_{s}"),
                )
            )  # fmt: skip
        send = st.form_submit_button("Send procurement's answers", key=f"tp_send_{pid}")
    if send:
        answers = [
            SupplierAnswer(s, ANSWER_WORDS[w], pt, risk, why, int(cd) if w == "Counter-offer"
                           else None)
            for s, w, cd, pt, risk, why in fields
            if ANSWER_WORDS[w] is not None
        ]  # fmt: skip
        _write(lambda: tp.respond(ctx.store, ctx.person, pid, seen, answers),
               "Answers sent: version {} made; earlier signatures are void.")  # fmt: skip


def _revise_form(ctx: Context, proposal: Proposal, policy: PaymentPolicy, seen: int) -> None:
    if approving_department(ctx.person) != "finance":
        return
    pid, version = proposal.proposal_id, proposal.version
    with st.expander("Revise the proposal (finance)"):
        with st.form(f"tp_revise_{pid}_{version}"):
            ids = proposal.lines["supplier_id"].to_list()
            supplier = st.selectbox("Supplier", ids, key=f"tp_rev_s_{pid}")
            days = st.number_input("New proposed days", 0, 365, 60, key=f"tp_rev_d_{pid}")
            reason = st.text_input("Why", key=f"tp_rev_why_{pid}")
            go = st.form_submit_button("Make a new version", key=f"tp_rev_go_{pid}")
        if go:
            _write(lambda: tp.revise(ctx.store, ctx.person, pid, seen, reason,
                                     days_by_supplier={supplier: int(days)}, policy=policy),
                   "Version {} made: procurement answers the changed supplier again.")  # fmt: skip


def _sign_form(ctx: Context, proposal: Proposal, table: pl.DataFrame, seen: int) -> None:
    department = approving_department(ctx.person)
    if department is None or proposal.unanswered:
        return
    if department in proposal.standing_signatures():
        st.caption(f"{department.capitalize()} has signed version {proposal.version}.")
        return
    pid, version = proposal.proposal_id, proposal.version
    st.markdown(f"**What you sign for {department}: version {version}**")
    st.markdown("\n".join(_in_words(r) for r in table.iter_rows(named=True)))
    with st.form(f"tp_sign_{pid}_{version}"):
        reason = st.text_input("Why you sign", key=f"tp_sign_why_{pid}")
        go = st.form_submit_button(
            f"Sign version {version} for {department}", type="primary", key=f"tp_sign_go_{pid}"
        )
    if go:
        _write(lambda: tp.sign(ctx.store, ctx.person, pid, seen, reason),
               "Signed; the proposal is now {}.")  # fmt: skip


def _in_words(r: dict) -> str:
    """One supplier of the version being signed, as a sentence with its figures."""
    name = f"{literal(r['supplier_id'])} {literal(r['supplier_name'])}"
    if r["answer"] == "refuse":
        return f"- {name}: stays on {r['payment_terms_days']} d (procurement refused)"
    days = r["procurement_days"]
    how = "counter-offer" if r["answer"] == "counter" else "accepted"
    return (
        f"- {name}: terms {r['payment_terms_days']} → **{days} d** ({how}; finance proposed "
        f"{r['proposed_days']} d), expected price pass-through {_pct(r['passthrough_pct'])}, "
        f"relationship risk {r['relationship_risk']}"
    )


def _end_form(ctx: Context, proposal: Proposal) -> None:
    department = approving_department(ctx.person)
    if department is None:
        return
    pid = proposal.proposal_id
    verb = "Withdraw" if department == "finance" else "Refuse the whole proposal"
    with st.expander(f"{verb} (it stays on record)"):
        with st.form(f"tp_end_{pid}"):
            reason = st.text_input("Why", key=f"tp_end_why_{pid}")
            go = st.form_submit_button(verb, key=f"tp_end_go_{pid}")
        if go:
            end = tp.withdraw if department == "finance" else tp.refuse
            _write(lambda: end(ctx.store, ctx.person, pid, reason), "Done: {}.")


def _tracking(ctx: Context, proposal: Proposal) -> None:
    st.markdown("**Since the terms apply: days to pay and prices against the plan**")
    try:
        frame = tracking(ctx.store, proposal)
    except REFUSED as exc:
        st.error(str(exc))
        return
    if frame.is_empty():
        no_data(
            f"payment or invoice of the agreed suppliers since {proposal.effective_from}",
            "Load the latest invoices on the **Data** page; each month appears here.",
        )
        return
    st.caption(
        "Days to pay is the days_to_pay KPI per supplier and month (by the date paid); the "
        "price change compares the month's invoice lines of the supplier's items with the "
        "same quantities at each item's mean price in the proposal's spend year; the plan is "
        "the pass-through procurement expected."
    )
    shown = tracking_view(frame, proposal.record["currency"])
    show_table(shown, key=f"tp_tracking_{proposal.proposal_id}", column_config=_text_columns(shown))
    downloads(frame, f"terms_proposal_{proposal.proposal_id}_tracking", "tp_track", scope=None)


def _write(act, done: str) -> None:  # type: ignore[no-untyped-def]
    """Run a write; say what it did, or why not and what to do."""
    try:
        result = act()
    except REFUSED as exc:
        st.error(str(exc))
        return
    st.cache_data.clear()
    st.session_state["_tp_done"] = done.format(result)
    st.rerun()


def flash() -> None:
    """The last write's confirmation, shown once after the rerun it caused."""
    done = st.session_state.pop("_tp_done", None)
    if done:
        st.success(done)


def _pct(value: Decimal | None) -> str:
    return EMPTY if value is None else f"{value.normalize():f} %"


def _next_month():  # type: ignore[no-untyped-def]
    today = datetime.now(UTC).date()
    return today.replace(year=today.year + today.month // 12, month=today.month % 12 + 1, day=1)
