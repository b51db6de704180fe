"""The Savings page's form to add or edit an initiative: who may, the fields in the order a
buyer fills them, and the save with its message. Split from ui.savings_page, whose ledger
tab draws it between the ledger and finance's review."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import streamlit as st
from pydantic import ValidationError

from kpi.core.currencies import CURRENCIES
from kpi.core.permissions import (
    PermissionDenied,
    initiative_edit_refusal,
)
from kpi.reporting import savings_view as view
from kpi.store.database import StoreError
from kpi.store.schema import KINDS, STAGES
from kpi.workflows.initiative_model import (
    Initiative,
    InitiativeError,
)
from kpi.workflows.initiatives import (
    form_choices,
    get_initiative,
    save_initiative,
    supplier_items,
)
from ui.cache import cached
from ui.context import Context

FLASH = "_savings_flash"
FORM_ROUND = "_initiative_form_saves"  # saves in this session: the initiative form's key suffix


def initiative_form(ctx: Context, ledger: pl.DataFrame) -> None:
    """The form to add or edit an initiative: read-only with the reason for a person who may
    not; supplier, item and category above it (outside the st.form, whose widgets do not
    rerun the page), so that choosing a supplier narrows the items at once."""
    suppliers, items = cached(form_choices, ctx)
    sold = cached(supplier_items, ctx)
    st.subheader("Add or edit an initiative")
    refusal = initiative_edit_refusal(ctx.person)  # the same sentence save_initiative raises
    if refusal:
        st.info(f"{refusal} The form is shown read-only.", icon=":material/lock:")
    target = st.selectbox("Initiative", view.initiative_choices(ledger), key="edit_pick")
    existing = None if target == view.NEW_INITIATIVE else get_initiative(ctx.store, target)
    e = existing.model_dump() if existing else {}
    sfx = _form_suffix(existing)  # fresh widgets per initiative and after each save
    locked = refusal is not None
    a, b, c = st.columns(3)
    supplier_ids = [""] + list(suppliers)
    supplier = a.selectbox(
        "Supplier",
        supplier_ids,
        index=supplier_ids.index(e.get("supplier_id") or ""),
        format_func=lambda s: suppliers.get(s, "–"),
        key=f"f_supplier_{sfx}",
        disabled=locked,
    )
    item_ids = view.supplier_item_choices(items, sold, supplier, e.get("item_id") or "")
    if st.session_state.get(f"f_item_{sfx}") not in (None, *item_ids):
        st.session_state.pop(f"f_item_{sfx}")  # an item of the supplier chosen before
    item = b.selectbox(
        "Item (or leave empty and give a category)",
        item_ids,
        index=item_ids.index(e.get("item_id") or ""),
        format_func=lambda i: items.get(i, "–"),
        key=f"f_item_{sfx}",
        disabled=locked,
        help="Only the items the chosen supplier invoiced; all items while no supplier is chosen.",
    )
    category = c.text_input(
        "Category", e.get("category") or "", key=f"f_category_{sfx}", disabled=locked
    )
    with st.form(f"initiative_form_{sfx}", enter_to_submit=False):
        form, reason = _initiative_fields(ctx, e, sfx, locked)
        submitted = st.form_submit_button(
            "Save initiative", type="primary", key=f"f_save_{sfx}", disabled=locked
        )
    if submitted:
        form |= {"supplier_id": supplier, "item_id": item, "category": category}
        initiative_id = existing.initiative_id if existing else None
        _save_initiative(ctx, existing, view.initiative_record(initiative_id, form), reason)


def _form_suffix(existing: Initiative | None) -> str:
    """The keys' suffix of the initiative form: `new` or the initiative's id, with the
    number of saves in this session after it (none before the first). A save moves to new
    keys: the form comes back empty, and a second click on the old Save button (a double
    click) finds no button of that key on the rerun, so it saves nothing."""
    saves = st.session_state.get(FORM_ROUND, 0)
    base = "new" if existing is None else existing.initiative_id
    return base if not saves else f"{base}{saves}"


def _initiative_fields(
    ctx: Context, e: dict[str, Any], sfx: str, locked: bool
) -> tuple[dict[str, Any], str]:
    """Draw the form's fields, prefilled from the initiative being edited; return the
    initiative's fields and the reason for the change."""
    a, b, c = st.columns(3)
    title = a.text_input("Title", e.get("title") or "", key=f"f_title_{sfx}", disabled=locked)
    kind = b.selectbox(
        "Kind",
        KINDS,
        index=KINDS.index(e.get("kind") or "price_reduction"),
        key=f"f_kind_{sfx}",
        disabled=locked,
    )
    stage = c.selectbox(
        "Stage",
        STAGES,
        index=STAGES.index(e.get("stage") or "identified"),
        key=f"f_stage_{sfx}",
        disabled=locked,
    )
    form = {"title": title, "kind": kind, "stage": stage}
    return _initiative_terms(ctx, e, sfx, (a, b, c), form, locked)


def _amount(col, label: str, value: Any, key: str, locked: bool, decimals: int = 4) -> float | None:
    """A non-negative number input prefilled from the initiative being edited."""
    return col.number_input(
        label,
        min_value=0.0,
        format=f"%.{decimals}f",
        key=key,
        value=None if value is None else float(value),
        disabled=locked,
    )


def _initiative_terms(
    ctx: Context, e: dict[str, Any], sfx: str, columns: tuple, form: dict[str, Any], locked: bool
) -> tuple[dict[str, Any], str]:
    """The prices, volume, currency, owner and dates under the first fields, and the reason."""
    a, b, c = columns
    form["baseline_unit_price"] = _amount(
        a, "Baseline unit price", e.get("baseline_unit_price"), f"f_base_{sfx}", locked
    )
    form["quoted_unit_price"] = _amount(
        b, "Quoted unit price", e.get("quoted_unit_price"), f"f_quoted_{sfx}", locked
    )
    form["negotiated_unit_price"] = _amount(
        c, "Negotiated unit price", e.get("negotiated_unit_price"), f"f_neg_{sfx}", locked
    )
    form["expected_volume"] = _amount(
        a, "Expected volume", e.get("expected_volume"), f"f_volume_{sfx}", locked, decimals=3
    )
    currencies = sorted(CURRENCIES)
    form["currency"] = b.selectbox(
        "Currency",
        currencies,
        index=currencies.index(e.get("currency") or ctx.currency),
        key=f"f_currency_{sfx}",
        disabled=locked,
    )
    owner = c.text_input(
        "Owner",
        e.get("owner") or (ctx.person.email if ctx.person else ""),
        key=f"f_owner_{sfx}",
        disabled=locked,
    )
    form["start_date"] = a.date_input(
        "Start", e.get("start_date") or date.today(), key=f"f_start_{sfx}", disabled=locked
    )
    form["end_date"] = b.date_input(
        "End",
        e.get("end_date") or None,
        key=f"f_end_{sfx}",
        disabled=locked,
        help=f"Empty: savings count for {ctx.settings.savings_window_months} months from the "
        "start (savings_window_months in settings).",
    )
    pct = e.get("price_change_pct")
    form["price_change_pct"] = c.number_input(
        "Price change % (category-wide only)",
        min_value=-99.9999,
        max_value=0.0,
        format="%.4f",
        key=f"f_pct_{sfx}",
        disabled=locked,
        value=None if pct is None else float(pct),
        help="For an initiative without an item: the negotiated change of every price of "
        "the category, in percent (-5 = 5 % lower). Leave the unit prices empty then; an "
        "item's initiative gives its baseline instead.",
    )
    form["owner"] = owner
    reason = c.text_input("Why (kept in the history)", "", key=f"f_reason_{sfx}", disabled=locked)
    return form, reason


def _save_initiative(
    ctx: Context, existing: Initiative | None, record: dict[str, Any], reason: str
) -> None:
    try:
        saved = save_initiative(
            ctx.store, ctx.person, Initiative(**record), reason=reason or None, based_on=existing
        )
        # first thing after the write: new form keys, so that a second click already on
        # its way submits no form (see _form_suffix); then the form opens empty on "new"
        st.session_state[FORM_ROUND] = st.session_state.get(FORM_ROUND, 0) + 1
        st.session_state.pop("edit_pick", None)
        st.session_state[FLASH] = saved.message
        st.cache_data.clear()
        st.rerun()
    except ValidationError as exc:
        for line in view.problem_lines(exc):
            st.error(line)
    except (PermissionDenied, InitiativeError, StoreError) as exc:
        st.error(str(exc))
