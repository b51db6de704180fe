"""Entry point: navigation, global filters and who the person acts as; nothing else."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path

import streamlit as st

from kpi.core import collector, stacks


def _run() -> None:
    from kpi.core.settings import db_path, kpis_path
    from kpi.semantic import rollups
    from kpi.workflows.definition_writer import recover_pending
    from ui.cache import end_run_reads
    from ui.context import definitions_banner, sidebar

    st.set_page_config(
        page_title="Finance–procurement KPIs", page_icon=":material/monitoring:", layout="wide"
    )

    # every write of the app refreshes the rollups, in the background (figures live meanwhile)
    rollups.AFTER_WRITE.background = True
    store_path = db_path()  # the path only: the sidebar reads the settings, once a run
    recover_pending(kpis_path())  # a KPI save cut short last time: completed or dropped
    if not store_path.exists():  # first run: fill an empty store with the demo to show
        from kpi.demo.build import build_demo

        with st.status("First run: building the demo data set (a few seconds)…") as status:
            build_demo(store_path, progress=status.write)
            status.update(label="Demo data ready", state="complete")

    # st.navigation first, then the shared sidebar widgets, then the page: widgets drawn before
    # st.navigation lose their value on the rerun they trigger.
    page = st.navigation(
        [
            st.Page(
                "pages/overview.py", title="CFO overview", icon=":material/dashboard:", default=True
            ),
            st.Page("pages/spend.py", title="Spend & budgets", icon=":material/account_balance:"),
            st.Page(
                "pages/savings.py", title="Savings & cost avoidance", icon=":material/savings:"
            ),
            st.Page("pages/terms.py", title="Payment terms & cash", icon=":material/payments:"),
            st.Page("pages/inventory.py", title="Inventory", icon=":material/inventory_2:"),
            st.Page("pages/suppliers.py", title="Suppliers", icon=":material/local_shipping:"),
            st.Page("pages/documents.py", title="Documents", icon=":material/receipt_long:"),
            st.Page("pages/inbox.py", title="Waiting for you", icon=":material/inbox:"),
            st.Page("pages/goals.py", title="Quarterly goals", icon=":material/flag:"),
            st.Page("pages/definitions.py", title="KPI definitions", icon=":material/rule:"),
            st.Page("pages/data.py", title="Data", icon=":material/database:"),
        ]
    )
    deep_link = st.session_state.pop("_deep_link", None)
    if deep_link:  # a bookmark to a page opened on a fresh server: show that page
        st.switch_page(deep_link, query_params=st.query_params.to_dict())  # ?as= kept
    try:
        ctx = sidebar()  # opens the run's shared read connection (ui.cache.begin_run_reads)
        definitions_banner(ctx)
        page.run()
    finally:
        end_run_reads()  # closed here, not left to the next run


# A fresh server's first run imports the libraries and fills the process's caches with
# Python's cycle collector paused, then freezes them (kpi.core.collector); later runs are
# untouched. Only in the app's own server (`streamlit run` names this script as argv[0]): a
# test run that drives the app in its own process keeps its collector as it is.
SERVING = Path(sys.argv[0]).resolve() == Path(__file__).resolve()
if SERVING:  # `kill -USR1 <pid>` writes each thread's stack to the server's log
    stacks.stacks_on_signal()
with collector.first_run() if SERVING else nullcontext():
    _run()
