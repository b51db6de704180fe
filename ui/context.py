"""What every page shares: the store, the KPI definitions, the global filters, who acts.

`app.py` calls `sidebar()` once per run; pages read the result with `current()`. Reads of
the store are cached on the store's version, so a load from another process shows up on
the next rerun without a restart.
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import NoReturn

import streamlit as st

from kpi.analyses.cost_centres import cost_centre_label, cost_centre_names
from kpi.analyses.data_status import dimension_values, display_currencies
from kpi.analyses.scorecard import data_window, latest_complete_period
from kpi.core import periods
from kpi.core.identity import IdentityRefused, chosen_person, local_refusal, signed_in_person
from kpi.core.people import Person, load_people
from kpi.core.scope import Scope
from kpi.core.settings import (
    HOW_TO_SET_IDENTITY,
    OidcSettings,
    Settings,
    SettingsError,
    config_dir,
    kpis_path,
    load_settings,
)
from kpi.semantic.definitions import load_definitions
from kpi.semantic.kpi_definition import DefinitionsError, KpiDefinition
from kpi.store.database import Store, StoreBusy, StoreError
from ui.cache import begin_run_reads, cached, run_store


@dataclass
class Context:
    store: Store
    settings: Settings
    definitions: list[KpiDefinition]
    start: date | None = None
    end: date | None = None
    period: str | None = None  # the scorecard's period (the last quarter of the range)
    filters: dict[str, list[str]] = field(default_factory=dict)
    currency: str = "EUR"
    person: Person | None = None
    definitions_problem: str | None = None
    identity_mode: str = "local"

    @property
    def version(self) -> tuple[int, int, int]:
        return self.store.version()

    @property
    def scope(self) -> Scope:
        """What the sidebar chooses: period range, filters, currency (the pages' cache key)."""
        return Scope.of(self.start, self.end, self.filters, self.currency)


def current() -> Context:
    ctx = st.session_state.get("_ctx")
    if ctx is None:
        _route_through_app()
        ctx = sidebar()  # a page run on its own (AppTest): it draws the shared sidebar itself
        definitions_banner(ctx)
    return ctx


def _route_through_app() -> None:
    """A deep link opened before app.py ever ran: go through app.py, then to the page.

    Until some session has called st.navigation, Streamlit serves a URL such as /savings
    from the pages/ folder on its own (its older multipage mode), skipping app.py and its
    navigation. Remember the page, run app.py, and let it switch to the page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        caller = Path(inspect.stack()[2].filename)
        st.session_state["_deep_link"] = f"pages/{caller.name}"
        st.switch_page("app.py", query_params=st.query_params.to_dict())  # ?as= kept


def _load_definitions(settings: Settings) -> tuple[list[KpiDefinition], str | None]:
    """The definitions in use; when the file is broken, the last good ones and the problem.

    Whatever is wrong with the file (bad YAML, binary garbage, a directory, a "billion
    laughs" file), the app keeps running: the problem becomes text for a banner.
    """
    path = kpis_path()
    try:
        # kept in this process by the file's content (kpi.semantic.definitions), not in
        # st.cache_data: the same text gives the same definition objects on every run, so
        # the caches kept per formula tree (measures, compiler) keep hitting
        defs = load_definitions(path, settings)
        st.session_state["_last_good_definitions"] = defs
        return defs, None
    except (DefinitionsError, OSError, ValueError, RecursionError) as exc:
        last = st.session_state.get("_last_good_definitions", [])
        todo = (
            "Fix the file by hand (`python -m kpi check` lists every problem) or restore it "
            "from version control."
        )
        if not last:
            todo += " Until then no KPI can be shown."
        return last, f"{exc}\n\n{todo}"


def _settings() -> Settings:
    """settings.yaml as load_settings reads it, parsed again only when its text changed
    (kept by content: every run of every page reads it, and parsing costs tens of ms)."""
    path = config_dir() / "settings.yaml"
    try:
        text = path.read_bytes()
    except OSError:  # missing (the defaults) or unreadable: load_settings says which
        return load_settings()
    key = (str(path), hashlib.sha256(text).hexdigest())
    kept = _SETTINGS.get(key)
    if kept is None:
        kept = load_settings(path)  # a bad value is refused here, every time, as before
        if path.read_bytes() == text:  # not saved meanwhile: these settings are that text's
            _SETTINGS.clear()
            _SETTINGS[key] = kept
    return kept


_SETTINGS: dict[tuple[str, str], Settings] = {}  # frozen: shared by every session


def definitions_banner(ctx: Context) -> None:
    """The broken-file banner (app.py draws it above every page; a page run on its own
    draws it here)."""
    if ctx.definitions_problem:
        what = "the last good definitions are in use" if ctx.definitions else "no KPIs to show"
        st.error(
            f"{kpis_path().name} has a problem, so {what}:\n\n" + ctx.definitions_problem,
            icon=":material/error:",
        )


def refreshing() -> None:
    """The store is held by a writer for longer than a reader waits: a calm note instead of
    an error, and the page stops (the next click or a reload shows the data)."""
    st.info(
        "**The data is refreshing.** Another program is writing the store; try again in "
        "a moment to see the figures.",
        icon=":material/sync:",
    )
    st.button("Try again", key="refresh_retry")
    st.stop()


def _sidebar_choices(store: Store) -> dict[str, list[str]]:
    """The values the sidebar's filters offer."""
    return {d: dimension_values(store, "spend", d) for d in ("cost_centre", "category")}


def request_headers() -> dict[str, str]:
    """The headers of the request that opened this session, names in lower case.

    AppTest sends none; the tests patch this function with the headers they mean.
    """
    try:
        return {str(k).lower(): str(v) for k, v in st.context.headers.items()}
    except Exception:  # no request behind this run: judged as a foreign one
        return {}


ACTING_AS = "acting_as"  # the widget key of the local-mode choice (tests set it too)


def _refuse(message: str) -> NoReturn:
    """A session that may not use the app as anyone: the reason and what to do, nothing else."""
    st.error(message, icon=":material/block:")
    st.stop()


def _auth_problem() -> tuple[str | None, str | None]:
    """Why sign-in cannot work (None: .streamlit/secrets.toml has a usable [auth] section),
    and the provider to pass to st.login when [auth] names one in a subsection."""
    try:
        auth = st.secrets.get("auth")
    except Exception as exc:  # no secrets file, or one that is not valid TOML
        return f".streamlit/secrets.toml cannot be read ({type(exc).__name__})", None
    if not hasattr(auth, "get"):
        return ".streamlit/secrets.toml has no [auth] section", None
    missing = [k for k in ("redirect_uri", "cookie_secret") if not auth.get(k)]
    client = ("client_id", "client_secret", "server_metadata_url")
    if all(auth.get(k) for k in client):
        provider = None
    else:
        named = [n for n, v in auth.items() if hasattr(v, "get") and all(v.get(k) for k in client)]
        provider = named[0] if len(named) == 1 else None
        if provider is None:
            missing.append("client_id, client_secret and server_metadata_url (of one provider)")
    if missing:
        return f"the [auth] section of .streamlit/secrets.toml lacks {', '.join(missing)}", None
    return None, provider


def _signed_in(oidc: OidcSettings, people: list[Person]) -> Person:
    """The person signed in with st.login and accepted by kpi.core.identity; anyone else
    (not signed in, refused, or sign-in broken) sees a message and stops before any data."""
    problem, provider = _auth_problem()
    claims: dict[str, object] = {}
    if problem is None:
        try:
            logged_in = bool(st.user.is_logged_in)
            claims = dict(st.user.to_dict()) if logged_in else {}
        except Exception as exc:  # st.user unavailable: sign-in is not working
            problem, logged_in = f"st.user is unavailable ({type(exc).__name__})", False
    if problem is not None:
        _refuse(
            f"**Sign-in is not working**, so nobody can use the dashboard: {problem}. The "
            "administrator fixes the sign-in configuration (README, 'Sign-in')."
        )
    if not logged_in:
        st.info("**Sign in to see the dashboard.**", icon=":material/login:")
        st.button(
            "Sign in",
            on_click=st.login,
            args=(provider,) if provider else (),
            type="primary",
            key="sign_in",
        )
        st.stop()
    try:
        person = signed_in_person(claims, oidc, people)
    except IdentityRefused as exc:
        st.button("Sign out", on_click=st.logout, key="sign_out")
        _refuse(str(exc))
    st.sidebar.caption(f"Signed in as **{person.label}**")
    st.sidebar.button("Sign out", on_click=st.logout, key="sign_out")
    return person


def _local(people: list[Person]) -> Person | None:
    """Local mode: the person chooses who they act as; only a browser on this computer.

    A new session acts as nobody until they choose; the choice is kept in the URL (?as=)
    so a reload or a bookmark keeps it, and in the session across page switches.
    """
    refusal = local_refusal(request_headers(), str(st.get_option("server.address") or ""))
    if refusal:
        _refuse(refusal)
    labels = {p.label: p for p in people}
    state = st.session_state
    if state.get(ACTING_AS) not in labels:  # nobody yet, or someone people.yaml lost
        state[ACTING_AS] = None
    if not state.get("_as_link_read"):  # a new session (a reload, a bookmark): the URL's ?as=
        state["_as_link_read"] = True
        linked = chosen_person(st.query_params.get("as"), people)
        if linked and state[ACTING_AS] is None:
            state[ACTING_AS] = linked.label
    choice = st.sidebar.selectbox(
        "Acting as",
        list(labels),
        index=None,
        placeholder="Choose who you act as",
        key=ACTING_AS,
        help="Local mode: no sign-in, so you choose who you act as from config/people.yaml. "
        "Only this computer can reach the app.",
    )
    person = labels.get(choice) if choice else None
    if person is None:
        if "as" in st.query_params:
            del st.query_params["as"]
        st.sidebar.caption(
            "**Local mode** — nobody chosen, so you can read but not change anything. "
            "Choose who you act as to make changes."
        )
        return None
    if st.query_params.get("as") != person.email:  # the URL keeps who acts (a reload)
        st.query_params["as"] = person.email
    st.sidebar.info(
        f"**Local mode** — no sign-in; acting as **{person.name}**. "
        "Only this computer can reach the app.",
        icon=":material/person:",
    )
    return person


def _identity(settings: Settings, people: list[Person]) -> tuple[Person | None, str]:
    """Who acts, and how that was learnt: "local", "oidc", or "none" (read-only, with the
    reason shown): settings.yaml's identity.mode decides, never a guess."""
    identity = settings.identity
    if identity.mode == "local":
        return _local(people), "local"
    if identity.mode == "oidc":
        return _signed_in(identity.oidc, people), "oidc"
    why = identity.problem or HOW_TO_SET_IDENTITY
    st.sidebar.error(f"**Read-only.** {why}", icon=":material/lock:")
    return None, "none"


def sidebar() -> Context:
    """Draw the global filters and identity in the sidebar; return the context. Opens the
    run: its reads of the store share one connection (ui.cache.begin_run_reads)."""
    begin_run_reads()
    try:
        settings = _settings()
        store = run_store(None, settings)
    except SettingsError as exc:  # broken configuration: closed, saying what to mend
        st.error(
            f"**The dashboard is closed: its settings are broken.** {exc}. Mend the file (or "
            "the environment variable) named, then reload the page.",
            icon=":material/lock:",
        )
        st.stop()
    definitions, problem = _load_definitions(settings)
    ctx = Context(
        store,
        settings,
        definitions,
        currency=settings.reporting_currency,
        definitions_problem=problem,
    )
    try:
        people = load_people()
    except (OSError, ValueError) as exc:
        people = []
        st.sidebar.error(f"config/people.yaml: {exc}")
    ctx.person, ctx.identity_mode = _identity(settings, people)
    if ctx.person is not None:  # nobody acting: no count, and no import of the inbox's
        # page code (ui.inbox reads the Context defined here; half a second to import)
        from ui.inbox import sidebar_count

        sidebar_count(ctx)  # "Waiting for you: n", a link to the inbox
    if not store.exists():
        st.session_state["_ctx"] = ctx
        return ctx
    try:
        window = cached(data_window, ctx)
        choices = cached(_sidebar_choices, ctx)
        currencies = cached(display_currencies, ctx)
        cc_names = cached(cost_centre_names, ctx)
    except StoreBusy:
        refreshing()
    except StoreError as exc:
        st.sidebar.error(str(exc))
        st.session_state["_ctx"] = ctx
        return ctx
    if window is None:
        st.session_state["_ctx"] = ctx
        return ctx
    cal = settings.fiscal
    quarters = periods.periods_between(window.first, window.last, "quarter", cal)
    last_full = latest_complete_period(window, "quarter", store)
    default_to = last_full if last_full in quarters else quarters[-1]
    default_from = quarters[max(0, quarters.index(default_to) - 7)]
    st.sidebar.header("Filters")
    # Every filter is kept in the URL by Streamlit (bind="query-params"), so a
    # reload, a bookmark or a link sent to a colleague shows the same slice, e.g.
    # ?periods=FY2025-Q1&periods=FY2026-Q3&f_cat=Packaging&currency=GBP. Only what differs
    # from the default is written; a value the data does not offer is ignored and dropped.
    if len(quarters) > 1:
        lo, hi = st.sidebar.select_slider(
            "Fiscal periods",
            options=quarters,
            value=(default_from, default_to),
            key="periods",
            bind="query-params",  # in the URL: see above
            help="The scorecard shows the last quarter of this range; charts show the range.",
        )
    else:
        lo = hi = quarters[0]
    ctx.start = periods.period_range(lo, cal)[0]
    ctx.end = periods.period_range(hi, cal)[1]
    ctx.period = hi
    ctx.filters = {
        "cost_centre": st.sidebar.multiselect(
            "Cost centre",
            choices["cost_centre"],
            key="f_cc",
            bind="query-params",
            placeholder="All cost centres",
            format_func=lambda code: cost_centre_label(code, cc_names),  # the name beside it
        ),
        "category": st.sidebar.multiselect(
            "Category",
            choices["category"],
            key="f_cat",
            bind="query-params",
            placeholder="All categories",
        ),
    }
    if len(currencies) > 1:
        ctx.currency = st.sidebar.selectbox(
            "Reporting currency",
            currencies,
            key="currency",
            bind="query-params",
            help="Amounts are converted at each transaction's date with fx_rates.",
        )
    st.session_state["_ctx"] = ctx
    return ctx
