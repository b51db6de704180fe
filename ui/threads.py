"""The thread panel: a discussion beside the number (kpi.workflows.threads holds the rules).

`thread_panel` shows one thread (comments oldest first, each reply under the comment it
answers, author and time on each), the forms to comment, reply and resolve for those who
may, and the reason instead of the forms for those who may not. Comments are shown with
st.text: whatever was typed (HTML, markdown, a spreadsheet formula) appears as typed.

The page helpers place it: on a KPI and its value for one period (the definitions page), a
savings initiative, a goal decision and a stock item. A link carrying `discussion=open`
(an inbox item) opens the thread it names once.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import streamlit as st

from kpi.core import periods
from kpi.core.formatting import format_time
from kpi.core.people import Person, display_name
from kpi.core.permissions import PermissionDenied, discussion_refusal
from kpi.semantic.kpi_definition import KpiDefinition
from kpi.store.database import StoreError
from kpi.workflows.threads import (
    MAX_COMMENT_CHARS,
    OPEN_PARAM,
    Comment,
    ThreadError,
    describe_subject,
    make_subject,
    post_comment,
    resolution,
    resolve_thread,
    thread,
    thread_summaries,
)
from ui.context import Context
from ui.widgets import known_people, literal, time_zone

MENTION_HELP = (
    "Plain text. Mention someone with @ and their e-mail or name (@Jonas Berg), or a "
    "department (@finance, @procurement): it appears in their inbox until the thread is "
    "resolved or they answer."
)
EXCERPT = 60


def _key(subject: str, part: str) -> str:
    return f"thr_{subject}_{part}"


def thread_panel(store, person: Person | None, subject: str, *, title: str | None = None) -> None:
    """One thread with its forms; `title` names what it is about (plain text)."""
    st.markdown(f"**Discussion · {literal(title or describe_subject(subject))}**")
    flash = st.session_state.pop(_key(subject, "flash"), None)
    if flash:
        st.success(flash)
    try:
        comments = thread(store, subject)
        done = resolution(store, subject)
    except StoreError as exc:
        st.error(f"The discussion cannot be read: {literal(exc)}")
        return
    people = known_people()
    zone = time_zone()
    refusal = discussion_refusal(person)
    if not comments:
        st.caption(
            "No comments yet: finance and procurement members and the CFO start a discussion here."
            if refusal
            else "No comments yet: ask a question or note a reason below, and mention who "
            "should answer."
        )
    elif done is not None:
        why = f" Why: {literal(done.reason)}" if done.reason else ""
        st.caption(
            f":material/task_alt: Resolved by {literal(done.resolved_by_name)} on "
            f"{format_time(done.resolved_at, zone)}; a new comment reopens it.{why}"
        )
    else:
        st.caption(f"Open · {len(comments)} comment{'s' if len(comments) != 1 else ''}")
    replies: dict[int, list[Comment]] = {}
    for c in comments:
        if c.parent_id is not None:
            replies.setdefault(c.parent_id, []).append(c)
    for c in comments:
        if c.parent_id is None:
            _show(c, people, zone)
            for r in replies.get(c.comment_id, []):
                _, right = st.columns([1, 14])
                with right:
                    _show(r, people, zone)
    if refusal is not None:
        st.caption(literal(refusal))
        return
    _comment_form(store, person, subject, comments)
    if comments and done is None:
        _resolve_form(store, person, subject)


def _show(c: Comment, people: Sequence[Person], zone: str) -> None:
    with st.container(border=True):
        named = [f"@{m}" if "@" not in m else display_name(m, people) for m in c.mentions]
        mentions = f" · mentions {literal(', '.join(named))}" if named else ""
        reply = f" · reply to #{c.parent_id}" if c.parent_id is not None else ""
        st.caption(
            f"**{literal(c.author_name)}** · {format_time(c.created_at, zone)} · "
            f"#{c.comment_id}{reply}{mentions}"
        )
        st.text(c.text)  # as typed: never markdown, HTML or a formula


def _excerpt(c: Comment) -> str:
    text = " ".join(c.text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def _comment_form(store, person: Person | None, subject: str, comments: list[Comment]) -> None:
    text_key, reply_key = _key(subject, "text"), _key(subject, "reply")
    if st.session_state.pop(_key(subject, "clear"), False):  # the last post landed
        st.session_state[text_key] = ""
        st.session_state.pop(reply_key, None)
    starts = {c.comment_id: c for c in comments if c.parent_id is None}
    with st.form(_key(subject, "form"), enter_to_submit=False):
        text = st.text_area(
            "Your comment",
            key=text_key,
            max_chars=MAX_COMMENT_CHARS,
            help=MENTION_HELP,
            placeholder="Ask, answer or note a reason… (@procurement, @Sam Okafor)",
        )
        reply_to = None
        if starts:
            reply_to = st.selectbox(
                "Reply to",
                [None, *starts],
                key=reply_key,
                format_func=lambda i: (
                    "— a new comment —"
                    if i is None
                    else f"#{i} {starts[i].author_name}: {_excerpt(starts[i])}"
                ),
            )
        sent = st.form_submit_button("Post comment", type="primary", key=_key(subject, "post"))
    if not sent:
        return
    try:
        posted = post_comment(store, person, subject, text, reply_to, people=known_people())
    except (ThreadError, PermissionDenied, StoreError) as exc:
        st.error(literal(exc))  # the text stays in the box to correct
        return
    st.session_state[_key(subject, "clear")] = True
    st.session_state[_key(subject, "flash")] = f"Comment #{posted.comment_id} posted."
    st.rerun()


def _resolve_form(store, person: Person | None, subject: str) -> None:
    with st.form(_key(subject, "resolve_form"), enter_to_submit=False):
        reason = st.text_input("Why it is resolved (optional)", key=_key(subject, "reason"))
        go = st.form_submit_button("Mark resolved", key=_key(subject, "resolve"))
    if not go:
        return
    try:
        resolve_thread(store, person, subject, reason)
    except (ThreadError, PermissionDenied, StoreError) as exc:
        st.error(literal(exc))
        return
    st.session_state[_key(subject, "flash")] = "The thread is marked resolved."
    st.rerun()


# ---- where the panel goes --------------------------------------------------------------------


def link_asks(*names: str) -> dict[str, str] | None:
    """The query parameters `names` of a link that asks to open a thread (`discussion=open`),
    once: they are removed from the address as they are read, so a rerun does not jump back."""
    params = st.query_params
    if params.get(OPEN_PARAM) != "open":
        return None
    asked = {n: str(params.get(n)) for n in names if params.get(n)}
    for n in (OPEN_PARAM, *names):
        params.pop(n, None)
    return asked


def kpi_discussion(ctx: Context, kpi: KpiDefinition) -> None:
    """The KPI's thread, or the thread on its value in one quarter (the quarters of the
    data window, newest first, and every quarter already discussed)."""
    cal = ctx.settings.fiscal
    quarters: list[str] = []
    if ctx.start is not None and ctx.end is not None:
        quarters = periods.periods_between(ctx.start, ctx.end, "quarter", cal)[::-1]
    summaries = thread_summaries(ctx.store, "kpi_period") if ctx.store.exists() else {}
    prefix = f"kpi_period:{kpi.id}@"
    discussed = {s.removeprefix(prefix): n for s, n in summaries.items() if s.startswith(prefix)}
    choices = [None, *quarters, *sorted(p for p in discussed if p not in quarters)]
    about_key = f"thr_about_{kpi.id}"
    asked = st.session_state.pop("thr_asked_period", None)
    if asked is not None and asked not in choices:
        choices.append(asked)
    if asked is not None:
        st.session_state[about_key] = asked

    def label(p: str | None) -> str:
        if p is None:
            return "The KPI as a whole"
        count = discussed.get(p)
        note = f" ({count[0]} comment{'s' if count[0] != 1 else ''}" if count else ""
        note += (", resolved)" if count[1] else ", open)") if count else ""
        return f"Its value in {p}{note}"

    about = st.selectbox("About", choices, key=about_key, format_func=label)
    if about is None:
        thread_panel(ctx.store, ctx.person, make_subject("kpi", kpi.id), title=kpi.name)
    else:
        subject = make_subject("kpi_period", f"{kpi.id}@{about}")
        thread_panel(ctx.store, ctx.person, subject, title=f"{kpi.name} in {about}")


def open_kpi_link(ids: Sequence[str]) -> bool:
    """A link to a KPI's (or a period's) thread picks the KPI and its Discussion tab; True
    when it did (call before the KPI box is drawn)."""
    asked = link_asks("kpi", "period")
    if not asked or asked.get("kpi") not in ids:
        return False
    st.session_state["def_pick"] = asked["kpi"]
    st.session_state["def_kpi_tab"] = "Discussion"
    if asked.get("period"):
        st.session_state["thr_asked_period"] = asked["period"]
    return True


def open_link(param: str, pick_key: str, tab: tuple[str, str] | None = None) -> None:
    """A link to a thread of the thing named by `param` (?initiative=…&discussion=open):
    remember it for the box keyed `pick_key` and switch the keyed tabs `tab` = (key, label)
    to the one holding it. Call before the tabs are drawn."""
    asked = link_asks(param)
    if asked and asked.get(param):
        st.session_state[f"{pick_key}_wanted"] = asked[param]
        if tab is not None:
            st.session_state[tab[0]] = tab[1]


GOAL_LINKED = "_goals_linked"  # (quarter, kpi) a thread link opened, while both stay picked


def open_goal_link(quarters: Sequence[str], kpi_ids: Sequence[str]) -> None:
    """A link to a goal decision's thread picks its quarter, KPI and the KPI-by-KPI tab. Its
    address stays (marked `discussion=shown`) so a reload opens the same thread again, until
    another quarter or KPI is picked."""
    params = st.query_params
    if "goals_quarter" not in st.session_state and params.get(OPEN_PARAM) == "shown":
        params[OPEN_PARAM] = "open"  # a reload (a new session): open it again
    asked = link_asks("quarter", "kpi")
    if asked:
        if asked.get("quarter") in quarters:
            st.session_state["goals_quarter"] = asked["quarter"]
        if asked.get("kpi") in kpi_ids:
            st.session_state["goals_kpi"] = asked["kpi"]
            st.session_state["goals_tab"] = "KPI by KPI"
        if asked.get("quarter") in quarters and asked.get("kpi") in kpi_ids:
            st.session_state[GOAL_LINKED] = (asked["quarter"], asked["kpi"])
            params.update({**asked, OPEN_PARAM: "shown"})
        return
    linked = st.session_state.get(GOAL_LINKED)
    picked = (st.session_state.get("goals_quarter"), st.session_state.get("goals_kpi"))
    if linked is not None and linked != picked:  # another quarter or KPI: the address goes
        st.session_state[GOAL_LINKED] = None
        for k in ("quarter", "kpi", OPEN_PARAM):
            params.pop(k, None)


def goal_discussion(ctx: Context, plan: str, kpi: KpiDefinition) -> None:
    """The thread on the target the meeting sets for one KPI and quarter."""
    subject = make_subject("goal_decision", f"{plan}/{kpi.id}")
    thread_panel(ctx.store, ctx.person, subject, title=f"the {plan} target of {kpi.name}")


def initiative_discussion(ctx: Context, ledger: pl.DataFrame, pick_key: str) -> None:
    """An initiative's thread, under finance's review: procurement and finance talk about
    it where it is judged (the ledger's initiatives, by id and title)."""
    st.subheader("Discussion")
    ids = ledger["initiative_id"].to_list() if not ledger.is_empty() else []
    titles = ledger["title"].to_list() if not ledger.is_empty() else []
    names = {i: f"{i} · {t}" if t else i for i, t in zip(ids, titles, strict=True)}
    picked_thread(ctx, "initiative", "Initiative", ids, pick_key, names=names)


def picked_thread(
    ctx: Context,
    kind: str,
    label: str,
    options: Sequence[str],
    key: str,
    *,
    link_param: str | None = None,
    names: dict[str, str] | None = None,
) -> None:
    """A box to pick one of `options` (initiatives, stock items; those already discussed are
    added) and its thread below. A link (`open_link`, or `link_param` read here) picks one."""
    if link_param is not None:
        open_link(link_param, key)
    wanted = st.session_state.pop(f"{key}_wanted", None)
    summaries = thread_summaries(ctx.store, kind) if ctx.store.exists() else {}
    discussed = [s.partition(":")[2] for s in summaries]
    choices = list(dict.fromkeys([*options, *discussed]))
    if wanted is not None:
        if wanted not in choices:
            choices.insert(0, wanted)
        st.session_state[key] = wanted
    if not choices:
        st.caption(
            f"No {label.lower()} to discuss in this selection: change the filters to find one."
        )
        return
    names = names or {}

    def shown(option: str) -> str:
        count = summaries.get(f"{kind}:{option}")
        note = ""
        if count:
            note = f" ({count[0]} comment{'s' if count[0] != 1 else ''}, "
            note += "resolved)" if count[1] else "open)"
        return names.get(option, option) + note

    pick = st.selectbox(label, choices, key=key, format_func=shown)
    thread_panel(ctx.store, ctx.person, make_subject(kind, pick), title=names.get(pick, pick))
