"""Discussions where the number is: threads on KPIs, periods, initiatives, proposals, stock.

A thread belongs to a subject, a string `"<kind>:<key>"` (see SUBJECT_KINDS): `kpi:days_to_pay`,
`kpi_period:days_to_pay@FY2026-Q3`, `initiative:SI-2026-0001`, `terms_proposal:3`,
`goal_decision:FY2027-Q1/days_to_pay`, `stock_item:ITM-0042`. The rules live here, so they
hold whatever a page shows:

- finance and procurement members and the CFO comment, reply and resolve; viewers read
  (PermissionDenied, from kpi.core.permissions, says who may);
- a comment is plain text: kept as typed (line breaks kept), never read as markup; it holds
  1 to MAX_COMMENT_CHARS characters and no invisible control characters;
- a reply answers a comment of the same thread; replies are one level deep (a reply to a
  reply answers the comment that opened that conversation);
- a mention is `@` followed by an e-mail of people.yaml, a person's full name there
  (`@Jonas Berg`), a first name only one person has (`@Jonas`), or a department
  (`@finance`, `@procurement`); an `@address` of nobody in people.yaml is refused, so a
  question never goes to nobody;
- resolving marks the thread done with an optional reason; a later comment reopens it;
- a thread waits for a person (`waiting_for`) while it is not resolved and someone else
  mentioned them or their department in it and they have not commented since; it waits for
  a department (its inbox, its digest) until one of its members comments after the mention;
- a list of open items (the meeting pack's unresolved goal-decision threads, `open_threads`)
  says who each thread waits for: every person or department mentioned and not answered
  since (a person answers by commenting; a department when one of its members comments).

The tables (`thread_comments`, `thread_resolutions`) are the company's record: loads,
`--force` and view rebuilds never touch them; `python -m kpi backup` keeps them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from kpi.core.people import (
    DEPARTMENTS,
    Person,
    display_name,
    find_person,
    load_people,
    normalise_email,
)
from kpi.core.permissions import require_discussion_writer
from kpi.store.database import Store
from kpi.store.queries import threads as q
from kpi.store.queries.catalog import HAS_TABLE
from kpi.workflows.waiting import WaitingItem

# kind -> (how a title names it, the page that shows its thread)
SUBJECT_KINDS: dict[str, tuple[str, str]] = {
    "kpi": ("KPI", "pages/definitions.py"),
    "kpi_period": ("KPI value", "pages/definitions.py"),
    "initiative": ("Savings initiative", "pages/savings.py"),
    "terms_proposal": ("Payment-terms proposal", "pages/terms.py"),
    "goal_decision": ("Goal decision", "pages/goals.py"),
    "stock_item": ("Stock item", "pages/inventory.py"),
}
MAX_COMMENT_CHARS = 4000
MAX_KEY_CHARS = 200
EXCERPT_CHARS = 80
OPEN_PARAM = "discussion"  # the query parameter that asks a page to show the thread

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_WORD_END = re.compile(r"(?!\w)")


class ThreadError(ValueError):
    """A comment or a resolution cannot be recorded; the message says what to change."""


@dataclass(frozen=True)
class Comment:
    """One comment of a thread, as recorded (created_at in UTC, without a zone)."""

    comment_id: int
    subject: str
    parent_id: int | None
    author_email: str
    author_name: str
    text: str
    created_at: datetime
    mentions: tuple[str, ...]  # e-mails and/or "finance"/"procurement"


@dataclass(frozen=True)
class Resolution:
    """Who marked a thread resolved, when (UTC) and why."""

    resolved_by: str
    resolved_by_name: str
    resolved_at: datetime
    reason: str


# ---- subjects ----------------------------------------------------------------------------


def make_subject(kind: str, key: str) -> str:
    """The subject string of a thing, checked: `make_subject("kpi", "days_to_pay")`."""
    subject = f"{kind}:{key}"
    parse_subject(subject)
    return subject


def parse_subject(subject: str) -> tuple[str, str]:
    """(kind, key) of a subject, or ThreadError naming what is wrong with it."""
    kind, colon, key = str(subject or "").partition(":")
    if not colon or kind not in SUBJECT_KINDS:
        raise ThreadError(
            f"'{subject}' names no thread: a subject is '<kind>:<key>' with kind one of "
            f"{', '.join(SUBJECT_KINDS)}."
        )
    key = key.strip()
    if not key or len(key) > MAX_KEY_CHARS or _CONTROL.search(key) or "\n" in key:
        raise ThreadError(f"'{subject}' names no thread: its key is empty or malformed.")
    if kind == "kpi_period" and "@" not in key:
        raise ThreadError(f"'{subject}': a KPI value's key is '<kpi id>@<period>'.")
    if kind == "goal_decision" and "/" not in key:
        raise ThreadError(f"'{subject}': a goal decision's key is '<quarter>/<kpi id>'.")
    return kind, key


def describe_subject(subject: str) -> str:
    """A subject as a title reads it: "KPI value days_to_pay in FY2026-Q3"."""
    kind, key = parse_subject(subject)
    noun = SUBJECT_KINDS[kind][0]
    if kind == "kpi_period":
        kpi_id, _, period = key.partition("@")
        return f"{noun} {kpi_id} in {period}"
    if kind == "goal_decision":
        quarter, _, kpi_id = key.partition("/")
        return f"{noun} on {kpi_id} for {quarter}"
    return f"{noun} {key}"


def subject_link(subject: str) -> tuple[str, dict[str, str]]:
    """The page that shows the subject's thread and the query parameters that open it there
    (`discussion=open` tells the page to show the thread, not only the thing)."""
    kind, key = parse_subject(subject)
    page = SUBJECT_KINDS[kind][1]
    if kind == "kpi":
        query = {"kpi": key}
    elif kind == "kpi_period":
        kpi_id, _, period = key.partition("@")
        query = {"kpi": kpi_id, "period": period}
    elif kind == "goal_decision":
        quarter, _, kpi_id = key.partition("/")
        query = {"quarter": quarter, "kpi": kpi_id}
    else:
        name = {"initiative": "initiative", "terms_proposal": "proposal", "stock_item": "item"}
        query = {name[kind]: key}
    return page, {**query, OPEN_PARAM: "open"}


# ---- mentions ----------------------------------------------------------------------------


def find_mentions(text: str, people: Sequence[Person]) -> tuple[str, ...]:
    """Who a comment mentions, in order of first mention: e-mails (normalised) and department
    names. ThreadError for an `@address` of nobody in people.yaml."""
    found: list[str] = []
    full_names = sorted(
        ((p.name.strip().lower(), p) for p in people if p.name.strip()),
        key=lambda pair: -len(pair[0]),
    )
    first_names: dict[str, list[Person]] = {}
    for p in people:
        if p.name.strip():
            first_names.setdefault(p.name.split()[0].lower(), []).append(p)
    for at in (m.start() for m in re.finditer("@", text)):
        if at > 0 and (text[at - 1].isalnum() or text[at - 1] in "._%+-"):
            continue  # the @ inside an address written without a mention
        rest = text[at + 1 :]
        hit = _mention_at(rest, people, full_names, first_names)
        if hit is not None and hit not in found:
            found.append(hit)
    return tuple(found)


def _mention_at(
    rest: str,
    people: Sequence[Person],
    full_names: list[tuple[str, Person]],
    first_names: dict[str, list[Person]],
) -> str | None:
    address = _EMAIL.match(rest)
    if address:
        email = normalise_email(address.group(0))
        if email is not None and any(normalise_email(p.email) == email for p in people):
            return email
        raise ThreadError(
            f"@{address.group(0)} is nobody in people.yaml: mention someone listed there "
            "(by e-mail or name) or a department (@finance, @procurement)."
        )
    lowered = rest.lower()
    for dept in DEPARTMENTS:
        if lowered.startswith(dept) and _WORD_END.match(rest, len(dept)):
            return dept
    for name, person in full_names:
        if lowered.startswith(name) and _WORD_END.match(rest, len(name)):
            return normalise_email(person.email) or person.email
    word = re.match(r"\w+", rest)
    if word:
        named = first_names.get(word.group(0).lower(), [])
        if len(named) == 1:
            return normalise_email(named[0].email) or named[0].email
    return None


# ---- writing -----------------------------------------------------------------------------


def post_comment(
    store: Store,
    person: Person | None,
    subject: str,
    text: str,
    reply_to: int | None = None,
    *,
    people: Sequence[Person] | None = None,
) -> Comment:
    """Record a comment (or a reply to `reply_to`) by the acting person; returns it.

    PermissionDenied for viewers; ThreadError for an empty or too long text, an unknown
    subject, a reply to a comment of another thread, or a mention of nobody. A comment on a
    resolved thread reopens it.
    """
    author = require_discussion_writer(person, "comment on threads")
    parse_subject(subject)
    body = _clean_text(text)
    mentions = find_mentions(body, load_people() if people is None else people)
    now = _now()
    with store.write() as con:
        parent_id = None
        if reply_to is not None:
            parent = _first(con, q.GET_COMMENT, {"comment_id": int(reply_to)})
            if parent is None or parent[1] != subject:
                raise ThreadError(
                    f"Comment {reply_to} is not in this thread ({describe_subject(subject)}): "
                    "reply to a comment shown here."
                )
            parent_id = int(parent[2]) if parent[2] is not None else int(parent[0])
        (comment_id,) = _first(con, q.NEXT_COMMENT_ID) or (1,)
        row = {
            "comment_id": int(comment_id),
            "subject": subject,
            "parent_id": parent_id,
            "author_email": author.email,
            "author_name": author.name,
            "text": body,
            "created_at": now,
            "mentions": list(mentions),
        }
        con.execute(q.INSERT_COMMENT, row)
    return Comment(**{**row, "mentions": mentions})


def resolve_thread(store: Store, person: Person | None, subject: str, reason: str = "") -> None:
    """Mark the thread resolved (who, when, why). PermissionDenied for viewers; ThreadError
    when the thread has no comment or is resolved already."""
    author = require_discussion_writer(person, "resolve threads")
    parse_subject(subject)
    why = _clean_text(reason, required=False)
    with store.write() as con:
        (last,) = _first(con, q.LAST_COMMENT_ID, {"subject": subject}) or (None,)
        if last is None:
            raise ThreadError(
                f"There is nothing to resolve on {describe_subject(subject)}: the thread has "
                "no comment yet."
            )
        done = _first(con, q.RESOLUTION, {"subject": subject})
        if done is not None:
            raise ThreadError(
                f"The thread on {describe_subject(subject)} is already resolved (by "
                f"{done[1]}, {done[2]:%Y-%m-%d %H:%M} UTC); comment to reopen it."
            )
        (resolution_id,) = _first(con, q.NEXT_RESOLUTION_ID) or (1,)
        con.execute(
            q.INSERT_RESOLUTION,
            {
                "resolution_id": int(resolution_id),
                "subject": subject,
                "last_comment_id": int(last),
                "resolved_by": author.email,
                "resolved_by_name": author.name,
                "resolved_at": _now(),
                "reason": why or None,
            },
        )


def _clean_text(text: str | None, required: bool = True) -> str:
    body = str(text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not body:
        raise ThreadError("Write something first: an empty comment is not recorded.")
    if len(body) > MAX_COMMENT_CHARS:
        raise ThreadError(
            f"The text has {len(body):,} characters; keep it to {MAX_COMMENT_CHARS:,} "
            "(link or attach a longer document elsewhere and summarise it here)."
        )
    if _CONTROL.search(body):
        raise ThreadError(
            "The text holds invisible control characters (pasted from another program?): "
            "retype it or paste it as plain text."
        )
    return body


def _first(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> tuple | None:
    """The first row of a statement, its result read to the end (DuckDB wants that before
    the connection's next statement)."""
    rows = con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    return tuple(rows[0]) if rows else None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# ---- reading -----------------------------------------------------------------------------


def _has_threads(store: Store) -> bool:
    if not store.exists():
        return False
    with store.read() as con:
        return bool((_first(con, HAS_TABLE, {"name": "thread_comments"}) or (0,))[0])


def _comment(row: Sequence[object]) -> Comment:
    cid, subject, parent, email, name, text, at, mentions = row
    return Comment(
        int(cid),  # type: ignore[call-overload]
        str(subject),
        None if parent is None else int(parent),  # type: ignore[call-overload]
        str(email),
        str(name),
        str(text),
        at,  # type: ignore[arg-type]
        tuple(mentions or ()),  # type: ignore[call-overload]
    )


def thread(store: Store, subject: str) -> list[Comment]:
    """The thread's comments, oldest first (replies carry their parent_id)."""
    parse_subject(subject)
    if not _has_threads(store):
        return []
    with store.read() as con:
        rows = con.execute(q.THREAD, {"subject": subject}).fetchall()
    return [_comment(r) for r in rows]


def resolution(store: Store, subject: str) -> Resolution | None:
    """The resolution that holds for the thread (none when open, or reopened since)."""
    parse_subject(subject)
    if not _has_threads(store):
        return None
    with store.read() as con:
        row = _first(con, q.RESOLUTION, {"subject": subject})
    if row is None:
        return None
    return Resolution(str(row[0]), str(row[1]), row[2], str(row[3] or ""))


def thread_resolved(store: Store, subject: str) -> bool:
    """The thread was marked resolved and nobody commented since."""
    return resolution(store, subject) is not None


def thread_summaries(store: Store, kind: str) -> dict[str, tuple[int, bool]]:
    """Every thread of a kind: subject -> (comments, resolved), for lists that show counts."""
    if kind not in SUBJECT_KINDS:
        raise ThreadError(
            f"'{kind}' is not a kind of thread: use one of {', '.join(SUBJECT_KINDS)}."
        )
    if not _has_threads(store):
        return {}
    with store.read() as con:
        rows = con.execute(q.THREAD_SUMMARIES, {"prefix": f"{kind}:"}).fetchall()
    return {str(s): (int(n), bool(done)) for s, n, _, done in rows}


def mentions_since(
    store: Store,
    since: datetime,
    email_or_department: str,
    *,
    people: Sequence[Person] | None = None,
) -> list[Comment]:
    """Comments written at or after `since` (UTC) that mention a department, or a person
    (by e-mail: their own mentions and their department's, not counting their own
    comments), oldest first."""
    names, me = _names_for(email_or_department, people)
    if not names or not _has_threads(store):
        return []
    if since.tzinfo is not None:
        since = since.astimezone(UTC).replace(tzinfo=None)
    params = {"since": since, "names": names, "exclude": me}
    with store.read() as con:
        rows = con.execute(q.MENTIONS_SINCE, params).fetchall()
    return [_comment(r) for r in rows]


def _names_for(
    email_or_department: str, people: Sequence[Person] | None
) -> tuple[list[str], str | None]:
    """What a mention of this person or department is recorded as, and the person's own
    e-mail (None for a department)."""
    wanted = str(email_or_department or "").strip()
    if wanted.lower() in DEPARTMENTS:
        return [wanted.lower()], None
    email = normalise_email(wanted)
    if email is None:
        return [], None
    listed = load_people() if people is None else people
    person = next((p for p in listed if normalise_email(p.email) == email), None)
    names = [email]
    if person is not None and person.department in DEPARTMENTS:
        names.append(person.department)
    return names, email


def waiting_for(
    store: Store, person: Person | None, *, people: Sequence[Person] | None = None
) -> list[WaitingItem]:
    """Threads that wait for the person: not resolved, someone else mentioned them or their
    department, and they have not commented since; the oldest such mention first."""
    if person is None:
        return []
    names, me = _names_for(person.email, people if people is not None else [person])
    if not names or not _has_threads(store):
        return []
    with store.read() as con:
        rows = con.execute(q.OPEN_MENTIONING_THREADS, {"names": names}).fetchall()
    by_subject: dict[str, list[Comment]] = {}
    for row in rows:
        comment = _comment(row)
        by_subject.setdefault(comment.subject, []).append(comment)
    answering = {me} if me is not None else _members(names[0])
    items = []
    for subject, comments in by_subject.items():
        asking = _unanswered_mention(comments, names, answering)
        if asking is not None:
            items.append(_waiting_item(subject, asking, names))
    return sorted(items, key=lambda item: (item.since or datetime.min, item.subject))


def _members(department: str) -> set[str]:
    """The e-mails of a department's people (people.yaml): any of them answers for it."""
    return {
        e for p in load_people() if p.department == department if (e := normalise_email(p.email))
    }


def _unanswered_mention(
    comments: list[Comment], names: list[str], answering: set[str]
) -> Comment | None:
    """The latest comment by someone else mentioning `names`, unless one of `answering`
    (the person; for a department, its members) wrote after it."""
    latest: Comment | None = None
    for c in comments:  # oldest first
        if normalise_email(c.author_email) in answering:
            latest = None
        elif set(c.mentions) & set(names):
            latest = c
    return latest


def _waiting_item(subject: str, comment: Comment, names: list[str]) -> WaitingItem:
    page, query = subject_link(subject)
    whom = "you" if names[0] in comment.mentions else f"@{names[-1]}"
    excerpt = " ".join(comment.text.split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[: EXCERPT_CHARS - 1] + "…"
    return WaitingItem(
        kind="mention",
        subject=subject,
        title=f"Thread on {describe_subject(subject)}",
        detail=f"{comment.author_name} mentioned {whom}: “{excerpt}” (reply or resolve it)",
        page=page,
        query=query,
        since=comment.created_at,
    )


# ---- open items ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenThread:
    """An unresolved thread as a list of open items shows it: who it waits for and since
    when (names from people.yaml, departments by name; empty when nobody was named)."""

    subject: str
    comments: int
    last: Comment
    waiting_for: tuple[str, ...]  # "Jonas Berg", "procurement": first asked first
    asked_by: tuple[str, ...]  # who asked each of them, in the same order
    since: datetime | None  # the oldest question still unanswered (UTC)


def open_threads(
    store: Store, kind: str, key_prefix: str = "", *, people: Sequence[Person] | None = None
) -> list[OpenThread]:
    """The unresolved threads of a kind whose key starts with `key_prefix` (the goal
    decisions of one quarter: `open_threads(store, "goal_decision", "FY2027-Q1/")`), the
    longest waiting first, then those nobody was named in, by their last comment."""
    listed = load_people() if people is None else people
    prefix = f"{kind}:{key_prefix}"  # thread_summaries refuses an unknown kind
    found = []
    for subject, (_, resolved) in thread_summaries(store, kind).items():
        if resolved or not subject.startswith(prefix):
            continue
        comments = thread(store, subject)
        if not comments:
            continue
        pending = _unanswered(comments, listed)
        found.append(
            OpenThread(
                subject=subject,
                comments=len(comments),
                last=comments[-1],
                waiting_for=tuple(_named(n, listed) for n in pending),
                asked_by=tuple(c.author_name for c in pending.values()),
                since=min((c.created_at for c in pending.values()), default=None),
            )
        )
    return sorted(
        found,
        key=lambda t: (t.since is None, t.since or t.last.created_at, t.subject),
    )


def _unanswered(comments: Sequence[Comment], people: Sequence[Person]) -> dict[str, Comment]:
    """Each mentioned e-mail or department not answered since -> the first comment asking it
    (a person answers by commenting, a department when one of its members comments; a
    mention of the author's own address or department asks nobody)."""
    pending: dict[str, Comment] = {}
    for c in comments:  # oldest first
        author = normalise_email(c.author_email)
        person = find_person(author, people) if author else None
        own = {author, person.department if person is not None else None}
        for name in own:
            pending.pop(name or "", None)
        for name in c.mentions:
            if name not in own:
                pending.setdefault(name, c)
    return pending


def _named(name: str, people: Sequence[Person]) -> str:
    """A mention as a list shows it: a person's name, a department as it is written."""
    return name if name in DEPARTMENTS else display_name(name, people)
