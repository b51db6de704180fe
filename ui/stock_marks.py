"""The Inventory page's stock kept on purpose: mark and unmark forms, the marks, their history.

The rules live in kpi.workflows.stock_marks (who may, the reason, the review date); this
module shows them: the forms are disabled with the refusal's own sentence for a person who
may not mark, marks whose review date passed are flagged, and every change is listed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import polars as pl
import streamlit as st

from kpi.core.permissions import PermissionDenied, stock_mark_refusal
from kpi.store.database import StoreError
from kpi.workflows import stock_marks as marks
from ui.cache import cached
from ui.context import Context
from ui.widgets import show_table

FLASH = "_stock_mark_flash"
ROUND = "_stock_mark_round"  # new widget keys after each write: the forms come back empty
REVIEW_AFTER_DAYS = 90  # the review date the form suggests
# the marks' tables fit a 1280 px screen: free text gets a fixed width (the full text shows
# on hover), short headers for the dates
NARROW = {
    "description": st.column_config.TextColumn("Description", width=160),
    "reason": st.column_config.TextColumn("Reason", width=180),
    "effective_from": st.column_config.TextColumn("Applies from"),
    "review_date": st.column_config.TextColumn("Review date"),
}


def stock_marks_section(ctx: Context) -> None:
    """Marking stock, the marks in force and their history, under the stock classes."""
    st.subheader("Stock kept on purpose")
    st.caption(
        "Procurement marks an item as safety or strategic stock, with a reason and a review "
        "date. A mark applies from the latest snapshot on the day it is set: the item's stock "
        "in that and later snapshots dated up to and including the review date is neither "
        "excess nor obsolete (safety stock up to its safety level, the rest cycle stock), in "
        "every figure above and in the KPIs. After the review date the stock is classed as if "
        "unmarked until procurement looks again. Finance questions a mark in the item's thread."
    )
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash, icon=":material/check:")
    current = cached(marks.current_marks, ctx, datetime.now(UTC).date())
    history = cached(marks.mark_history, ctx)
    _current_marks(current)
    # each item's latest change as shown: a write after someone else's change is refused
    seen = dict(history.group_by("item_id").agg(pl.col("change_id").max()).iter_rows())
    _forms(ctx, current, seen)
    with st.expander("History of the marks (every change, newest first)"):
        if history.is_empty():
            st.info("No stock has been marked yet: the history starts with the first mark.")
        else:
            shown = history.select(
                "changed_at",
                "changed_by",
                "item_id",
                "action",
                "kind",
                "review_date",
                "reason",
                "effective_from",
            )
            show_table(_days_as_text(shown), key="stock_mark_history", column_config=NARROW)


MARK_RULE = (
    "Stock procurement marked as safety or strategic stock counts here as safety stock (up "
    "to its safety level) and cycle stock, never as excess or obsolete, in the snapshots "
    "from the one its mark applies from up to and including its review date; after the "
    "review date it is classed as if unmarked. The KPIs read the same classes."
)


def marks_in_classes(current: pl.DataFrame, categories: tuple[str, ...] = ()) -> str:
    """The stock-mark rule as said where the classes are shown, with how many marks stand
    now in the categories the page shows (all when `categories` is empty)."""
    if categories and not current.is_empty():
        current = current.filter(pl.col("category").is_in(categories))
    if current.is_empty():
        return f"{MARK_RULE} No item is marked now" + (
            " in the categories chosen." if categories else "."
        )
    passed = int(current["review_passed"].sum())
    late = f", {passed} of them past the review date (classed as if unmarked)" if passed else ""
    return (
        f"{MARK_RULE} Marked now: {current.height} item(s){late}; see *Stock kept on purpose* "
        "below."
    )


def _current_marks(current: pl.DataFrame) -> None:
    if current.is_empty():
        st.info(
            "No stock is marked as safety or strategic stock. Procurement marks an item below, "
            "with a reason and a review date, when it holds idle or excess stock on purpose.",
            icon=":material/inventory_2:",
        )
        return
    passed = current.filter(pl.col("review_passed"))
    if not passed.is_empty():
        listed = ", ".join(
            f"{r['item_id']} ({r['review_date']:%Y-%m-%d})" for r in passed.iter_rows(named=True)
        )
        st.warning(
            f"Review date passed for {listed}: this stock is classed as excess or obsolete "
            "again in snapshots after its review date. Procurement: change the mark with a new "
            "review date, or remove it.",
            icon=":material/event_busy:",
        )
    shown = current.with_columns(
        pl.when(pl.col("review_passed"))
        .then(pl.lit("passed: review the mark"))
        .otherwise(pl.lit("in force"))
        .alias("review"),
    ).select(  # narrow enough for 1280 px: the category and the time are in the history
        "item_id",
        "description",
        "kind",
        "review_date",
        "review",
        "reason",
        "marked_by",
        "effective_from",
    )
    show_table(_days_as_text(shown), key="stock_marks_now", column_config=NARROW)


def _days_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Days as 2027-03-31 (a table would show a date column with a time of midnight)."""
    return frame.with_columns(pl.col(pl.Date).dt.strftime("%Y-%m-%d"))


def _forms(ctx: Context, current: pl.DataFrame, seen: dict[str, int]) -> None:
    refusal = stock_mark_refusal(ctx.person)  # the same sentence the write raises
    if refusal:
        st.info(f"{refusal} The forms are shown read-only.", icon=":material/lock:")
    locked = refusal is not None
    sfx = st.session_state.get(ROUND, 0)
    items = cached(marks.markable_items, ctx)
    marked = dict(zip(current["item_id"].to_list(), current["kind"].to_list(), strict=True))
    left, right = st.columns(2)
    with left, st.form(f"stock_mark_form_{sfx}", enter_to_submit=False):
        st.markdown("**Mark an item, or change its mark**")
        item = st.selectbox(
            "Item (in the latest snapshot)",
            list(items),
            format_func=lambda i: items[i] + (f" — marked {marked[i]}" if i in marked else ""),
            index=None,
            placeholder="Choose an item",
            key=f"sm_item_{sfx}",
            disabled=locked,
        )
        kind = st.radio(
            "Kept as",
            marks.KINDS,
            format_func=lambda k: marks.KIND_LABELS[k],
            horizontal=True,
            key=f"sm_kind_{sfx}",
            disabled=locked,
        )
        review = st.date_input(
            "Review date (after today)",
            date.today() + timedelta(days=REVIEW_AFTER_DAYS),
            min_value=date.today() + timedelta(days=1),
            key=f"sm_review_{sfx}",
            disabled=locked,
        )
        reason = st.text_input("Why (kept in the history)", key=f"sm_reason_{sfx}", disabled=locked)
        go = st.form_submit_button(
            "Save the mark", type="primary", key=f"sm_save_{sfx}", disabled=locked
        )
    if go:
        if item is None:
            st.error("Choose the item to mark.")
        else:
            _write(
                ctx,
                lambda: marks.mark_stock(
                    ctx.store, ctx.person, item, kind, reason, review, seen.get(item, 0)
                ),
            )
    with right, st.form(f"stock_unmark_form_{sfx}", enter_to_submit=False):
        st.markdown("**Remove a mark**")
        item_off = st.selectbox(
            "Marked item",
            list(marked),
            format_func=lambda i: items.get(i, i) + f" — {marked[i]}",
            index=None,
            placeholder="No item is marked" if not marked else "Choose a marked item",
            key=f"sm_off_item_{sfx}",
            disabled=locked or not marked,
        )
        why_off = st.text_input(
            "Why (kept in the history)", key=f"sm_off_reason_{sfx}", disabled=locked or not marked
        )
        off = st.form_submit_button(
            "Remove the mark", key=f"sm_off_{sfx}", disabled=locked or not marked
        )
    if off:
        if item_off is None:
            st.error("Choose the marked item whose mark you remove.")
        else:
            _write(
                ctx,
                lambda: marks.unmark_stock(
                    ctx.store, ctx.person, item_off, why_off, seen.get(item_off, 0)
                ),
            )


def _write(ctx: Context, act: Callable[[], marks.StockMark]) -> None:
    """Run a write; on success show its message after a rerun with fresh forms, else say
    what to do (the library's refusal, never a traceback)."""
    try:
        done = act()
    except (PermissionDenied, marks.StockMarkError, StoreError) as exc:
        st.error(str(exc))
        return
    st.session_state[ROUND] = st.session_state.get(ROUND, 0) + 1
    st.session_state[FLASH] = done.message
    st.rerun()
