"""One app replica for tests/app/test_app_replicas.py: a process of its own running the KPI
definitions page under Streamlit's AppTest, driven by JSON lines on stdin, one JSON line
answered on stdout per command.

The replica's data and configuration come from the environment, as a deployed replica's
do (KPI_CONFIG, and KPI_DB or KPI_STORE/KPI_LAKE); two drivers started with the same
environment are two replicas on the same data and config.

Commands: {"do": "open", "as": <acting as>, "kpi": <id>} opens the page on a KPI;
{"do": "edit", "kpi": <id>, "field": <name>, "value": <text>, "reason": <text>} types into
its editor; {"do": "save", "kpi": <id>, "go": <path>} waits until the file `go` exists
(so two replicas press Save at the same moment) and presses Save; {"do": "click", "key":
<button key>}; {"do": "look",
"kpi": <id>} runs the page again, as the next click of the person does; {"do": "quit"}.
Each answer: what the page shows (title of the KPI, its name in the catalogue, errors,
successes, the two versions of a conflict).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

import ui.context  # the repository's root is on PYTHONPATH (the test sets it)

ROOT = Path(__file__).resolve().parents[2]

# AppTest sends no request headers, which local mode refuses: a browser on this computer
ui.context.request_headers = lambda: {"host": "localhost:8501"}  # type: ignore[assignment]
PAGE = str(ROOT / "pages" / "definitions.py")


def shown(at: AppTest, kpi_id: str) -> dict:
    """What a person sees of `kpi_id` and of the last save."""
    table = next((d.value for d in at.dataframe if "finance_approval" in d.value.columns), None)
    name = None
    if table is not None:
        rows = table[table["id"] == kpi_id]
        name = None if rows.empty else str(rows["name"].iloc[0])
    try:
        store = type(at.session_state["_ctx"].store).__name__  # the store this run read
    except KeyError:
        store = None
    return {
        "store": store,
        "exception": [str(e.value) for e in at.exception],
        "subheader": [s.value for s in at.subheader],
        "catalogue_name": name,
        "errors": [e.value for e in at.error],
        "successes": [s.value for s in at.success],
        "yaml": [c.value for c in at.code if c.language == "yaml"],
    }


def run(at: AppTest) -> None:
    """One run of the page as app.py gives it: app.py builds the shared context (store,
    definitions, who acts) afresh on every run; a page run on its own keeps it in the
    session, so it is dropped first."""
    if "_ctx" in at.session_state:
        del at.session_state["_ctx"]
    at.run()


def main() -> None:
    at: AppTest | None = None
    for line in sys.stdin:
        command = json.loads(line)
        do, kpi_id = command["do"], command.get("kpi", "")
        if do == "quit":
            break
        if do == "open":
            at = AppTest.from_file(PAGE, default_timeout=120)
            at.session_state["acting_as"] = command["as"]
            at.session_state["def_pick"] = kpi_id
            at.session_state["def_kpi_tab"] = "Edit"
            run(at)
        elif do == "edit":
            field = command["field"]
            widget = at.text_area if field == "description" else at.text_input
            widget(key=f"ed_{kpi_id}_{field}").input(command["value"])
            at.text_input(key=f"ed_{kpi_id}_reason").input(command["reason"])
            run(at)
        elif do == "save":
            go = Path(command["go"])
            deadline = time.monotonic() + 60
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.005)
            at.button(key=f"ed_{kpi_id}_save").click()
            run(at)
        elif do == "click":
            at.button(key=command["key"]).click()
            run(at)
        elif do == "look":
            run(at)
        print(json.dumps(shown(at, kpi_id)), flush=True)


if __name__ == "__main__":
    main()
