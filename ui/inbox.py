"""The inbox page's parts: what waits for the person signed in, grouped by kind, each item
acted on where it is (a KPI approval or a target signature is read and signed right here,
in the signer's own name) or opened on its page (an initiative's review, a thread), and the
sidebar's count of it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from kpi.core.formatting import format_time
from kpi.core.people import Person
from kpi.core.permissions import PermissionDenied, approving_department
from kpi.core.settings import kpis_path
from kpi.semantic.definitions import DefinitionsError
from kpi.store.database import Store, StoreError
from kpi.workflows import inbox
from kpi.workflows.definition_writer import ConflictError, EditError
from kpi.workflows.signing_diff import WhatIsSigned, what_is_signed
from kpi.workflows.waiting import WaitingItem
from ui.cache import cached
from ui.context import Context
from ui.widgets import literal, person_name, time_zone

SHOWN = 20  # items shown per group; the others wait in an expander below them
FLASH = "_inbox_flash"  # the outcome of the last signature, shown after the rerun
GROUPS = {
    "definition_approval": "KPI definitions to approve",
    "target_signature": "Targets to sign",
    "initiative_review": "Savings initiatives awaiting finance's review",
    "terms_response": "Payment-terms proposals to answer",
    "terms_signature": "Payment-terms proposals to sign",
    "mention": "Threads that mention you or your department",
}
OPEN_LABEL = {
    "initiative_review": "Open the review",
    "mention": "Open the thread",
    "terms_response": "Open the proposal",
    "terms_signature": "Open the proposal",
}


def _stamp(path: Path) -> tuple:
    """Changes whenever kpis.yaml or its history is saved: part of the count's cache key."""
    out: list = []
    for p in (path, path.with_name(f"{path.stem}.history.jsonl")):
        try:
            s = p.stat()
            out.append((s.st_ino, s.st_mtime_ns, s.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def _items(store: Store, person: Person | None, path: str, stamp: tuple) -> list[WaitingItem]:
    return inbox.waiting_for(store, person, Path(path))


def items_for(ctx: Context) -> list[WaitingItem]:
    """What waits for the acting person, cached on the store's and the file's versions."""
    if ctx.person is None or not ctx.store.exists():
        return []
    path = kpis_path()
    return cached(_items, ctx, ctx.person, str(path), _stamp(path))


def sidebar_count(ctx: Context) -> None:
    """The sidebar's link to the inbox with the number of items waiting."""
    if ctx.person is None:
        return
    try:
        count = len(items_for(ctx))
    except (StoreError, OSError, DefinitionsError):
        return  # the pages say what is wrong with the store or the file
    label = f"Waiting for you: {count}" if count else "Waiting for you: nothing"
    link(st.sidebar, "pages/inbox.py", label, {}, ":material/inbox:")


def link(where, page: str, label: str, query: dict[str, str], icon: str | None = None) -> None:
    """A link to an app page with query parameters the page honours. A page run on its own
    (no navigation: Streamlit's AppTest) gets a plain link to the same address."""
    try:
        where.page_link(page, label=label, icon=icon, query_params=query or None)
    except StreamlitAPIException:
        address = "/" + Path(page).stem + (f"?{urlencode(query)}" if query else "")
        where.markdown(f"[{literal(label)}]({address})")


def page(ctx: Context) -> None:
    """The whole inbox: the flash of the last signature, the empty states, the groups."""
    flash = st.session_state.pop(FLASH, None)
    if flash:
        st.success(flash)
    if ctx.person is None:
        st.info(
            "**Nobody is acting yet.** Choose who you act as in the sidebar (or sign in): the "
            "inbox lists what waits for that person.",
            icon=":material/person:",
        )
        return
    if not ctx.store.exists():
        st.info("**No store yet.** Build the demo (`python -m kpi demo`) or load data first.")
        return
    try:
        items = items_for(ctx)
    except (StoreError, OSError, DefinitionsError) as exc:
        st.error(f"The inbox cannot be read: {exc} Try again in a moment.")
        return
    if not items:
        _empty(ctx.person)
        return
    st.caption(
        f"{len(items)} item(s) wait for {literal(ctx.person.name)}"
        + (f" or {approving_department(ctx.person)}" if approving_department(ctx.person) else "")
        + ". Approvals and signatures are signed here, in your own name; the rest opens where "
        "it is acted on."
    )
    for kind, heading in GROUPS.items():
        group = [i for i in items if i.kind == kind]
        if not group:
            continue
        st.subheader(f"{heading} ({len(group)})")
        for item in group[:SHOWN]:  # keyed by what it is: a signature never moves to another
            _item(ctx, item, f"{kind}_{item.subject}_{item.query.get('quarter', '')}")
        if len(group) > SHOWN:
            with st.expander(f"The {len(group) - SHOWN} others, waiting less long"):
                for item in group[SHOWN:]:
                    _item(ctx, item, f"{kind}_{item.subject}_{item.query.get('quarter', '')}")


def _empty(person: Person) -> None:
    dept = approving_department(person)
    if dept is None:
        more = (
            "As a viewer you sign and judge nothing; a thread that mentions you will appear here."
        )
    else:
        more = (
            f"KPI approvals and targets {dept} owes, "
            + ("initiatives awaiting finance's review, " if dept == "finance" else "")
            + "and threads that mention you or @"
            + dept
            + " appear here as soon as they wait for you; the sidebar counts them."
        )
    st.success(f"**Nothing waits for you.** {more}", icon=":material/inbox:")


def _item(ctx: Context, item: WaitingItem, key: str) -> None:
    with st.container(border=True):
        st.markdown(f"**{literal(item.title)}**")
        since = f" · waiting since {format_time(item.since, time_zone())}" if item.since else ""
        st.caption(literal(item.detail) + since)
        if item.kind in ("definition_approval", "target_signature"):
            _sign(ctx, item, key)
        else:
            link(st, item.page, OPEN_LABEL.get(item.kind, "Open"), item.query)


def _sign(ctx: Context, item: WaitingItem, key: str) -> None:
    """What the signer signs (the change since the agreed version, in words and values)
    and the form that signs it, for the person's own department."""
    assert ctx.person is not None
    path = kpis_path()
    try:
        signed = what_is_signed(path, item.query["kpi"], currency=ctx.settings.reporting_currency)
    except (OSError, DefinitionsError, EditError) as exc:
        st.error(f"The definition cannot be read: {exc}")
        return
    opened = all(st.query_params.get(k) == v for k, v in item.query.items() if k != "value")
    with st.expander("Read what you sign, then sign", expanded=opened):
        _what(signed)
        _form(ctx, item, key, signed, path)


def _form(ctx: Context, item: WaitingItem, key: str, signed: WhatIsSigned, path: Path) -> None:
    target = item.kind == "target_signature"
    with st.form(f"inbox_sign_{key}", enter_to_submit=False):
        why = st.text_input(
            "Rationale (required, kept in the decision log)"
            if target
            else "Note (optional, kept in the history)",
            key=f"inbox_why_{key}",
        )
        dept = item.query.get("department", "")
        label = (
            f"Sign {item.query.get('quarter')} target for {dept}"
            if target
            else f"Approve this version for {dept}"
        )
        sent = st.form_submit_button(label, type="primary", key=f"inbox_go_{key}")
    if sent:
        _confirm(ctx, item, signed.current_version, why, path)


def _what(signed: WhatIsSigned) -> None:
    if signed.changes:
        since = f" (agreed {signed.agreed_when})" if signed.agreed_when else ""
        st.markdown(f"**Changed since the last agreed version{literal(since)}:**")
        st.markdown("\n".join(f"- {literal(line)}" for line in signed.changes))
    if signed.note:
        st.info(literal(signed.note))
    if signed.saves:
        st.markdown("**Saves since then:**")
        st.markdown(
            "\n".join(
                f"- {literal(r.get('when', ''))} · {literal(person_name(r.get('who')))} · "
                f"{literal(r.get('action', ''))}: {literal(r.get('why') or '–')}"
                for r in signed.saves
            )
        )
    if not signed.changes:
        st.markdown("**The content you sign:**")
        st.markdown("\n".join(f"- {literal(line)}" for line in signed.content))
    st.caption(f"Content version {signed.current_version} (any later change voids the signature).")


def _confirm(ctx: Context, item: WaitingItem, seen: str, why: str, path: Path) -> None:
    try:
        result = inbox.confirm(ctx.store, ctx.person, item, seen, why, path)
    except ConflictError:
        st.error(
            "Not signed: someone saved the KPI definitions while you read them. The inbox now "
            "shows the current version: read it again, then sign."
        )
    except (
        PermissionDenied,
        inbox.InboxError,
        EditError,
        DefinitionsError,
        StoreError,
        OSError,
    ) as exc:
        st.error(str(exc))
    else:
        st.cache_data.clear()  # the definitions and the count changed
        agreed = " It is agreed now." if result.status == "agreed" else ""
        waits = "" if agreed else " It waits for the other department's signature."
        st.session_state[FLASH] = f"Signed: {literal(item.title)}.{agreed}{waits}"
        st.rerun()
