"""The KPI definition dialog opens once per click (issue 15): a scorecard click shows it on
the run that follows, and no later rerun (a sidebar filter, the currency, a download) shows
it again; closing it unselects the click; the tiles' Definition buttons hold the same.

AppTest cannot click a dataframe cell nor close a dialog, so these tests set the state a
click leaves (the ask the table's callback records, the table's selection) and call the
dismissal callback from a button; the browser test (tests/browser/test_browser_dialog.py)
clicks and closes for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.definition_dialog import ASKED, OPENED_FROM, clicked_row

ROOT = Path(__file__).resolve().parents[2]
READING = "**Finance reads it as**"  # a line only the dialog writes


def _dialog_shown(at: AppTest) -> bool:
    return any(m.value == READING for m in at.markdown)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _overview_after_a_click(kpi_id: str = "total_spend") -> AppTest:
    """The overview's run right after a click on `kpi_id`'s row in the spend table: the
    callback has recorded the ask and the row stays selected in the table."""
    at = AppTest.from_file(str(ROOT / "pages" / "overview.py"), default_timeout=120)
    at.session_state[ASKED] = ("score_spend", kpi_id)
    at.session_state["score_spend"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    return _run(at)


def test_a_scorecard_click_shows_its_definition_on_the_next_run(store):
    at = _overview_after_a_click()
    assert _dialog_shown(at)
    assert "Total spend" in [h.value for h in at.subheader]
    # the ask is spent; the dialog remembers which table to unselect when it is closed
    assert ASKED not in at.session_state
    assert at.session_state[OPENED_FROM] == "score_spend"


def test_a_sidebar_filter_does_not_bring_the_definition_back(store):
    at = _overview_after_a_click()
    assert _dialog_shown(at)
    # the row is still selected in the table (the dialog was not closed by its X), yet a
    # filter change runs the page without the dialog: only a click opens it
    at.session_state["f_cc"] = ["CC2"]
    _run(at)
    assert not _dialog_shown(at)
    assert at.session_state["score_spend"]["selection"]["rows"] == [0]
    assert "€900.00" in [str(v) for df in at.dataframe for v in df.value.to_numpy().ravel()]


def test_a_currency_change_and_a_plain_rerun_do_not_bring_it_back(store):
    at = _overview_after_a_click("po_compliance")
    assert _dialog_shown(at)
    at.session_state["currency"] = "USD"
    _run(at)
    assert not _dialog_shown(at)
    _run(at)  # a download button's click reruns the page the same way
    assert not _dialog_shown(at)


def test_an_ask_for_a_kpi_no_longer_defined_opens_nothing(store):
    at = _overview_after_a_click("no_such_kpi")
    assert not _dialog_shown(at)
    assert ASKED not in at.session_state


def _closing_app() -> None:
    """A table selected by a click, and a button standing in for the dialog's X (AppTest
    cannot close a dialog): the button calls the dialog's on_dismiss callback."""
    import streamlit as st

    from ui.definition_dialog import dismissed

    st.dataframe(
        {"name": ["Total spend", "PO compliance"]},
        key="score_spend",
        on_select="rerun",
        selection_mode=["single-row", "single-cell"],
    )
    st.button("close", on_click=dismissed)


def test_closing_the_dialog_unselects_the_scorecard_click(store):
    at = AppTest.from_function(_closing_app, default_timeout=60)
    at.session_state["score_spend"] = {
        "selection": {"rows": [], "columns": [], "cells": [[1, "name"]]}
    }
    at.session_state[OPENED_FROM] = "score_spend"
    _run(at)
    assert [tuple(c) for c in at.session_state["score_spend"]["selection"]["cells"]] == [
        (1, "name")
    ]
    at.button[0].click()
    _run(at)
    selection = at.session_state["score_spend"]["selection"]
    assert (selection["rows"], selection["cells"]) == ([], [])
    assert OPENED_FROM not in at.session_state


@pytest.mark.parametrize(
    ("selection", "row"),
    [
        ({"rows": [2], "columns": [], "cells": []}, 2),  # the row's tick
        ({"rows": [], "columns": [], "cells": [(1, "name")]}, 1),  # the KPI's name
        ({"rows": [], "columns": [], "cells": [(0, "Definition")]}, 0),  # its status
        ({"rows": [], "columns": [], "cells": [(1, "Value")]}, None),  # a value: copy it
        ({"rows": [], "columns": [], "cells": []}, None),  # a click that unselected
        ({}, None),
    ],
)
def test_which_clicks_open_the_definition(selection, row):
    assert clicked_row(selection) == row


def test_a_tile_definition_button_opens_once(store):
    at = AppTest.from_file(str(ROOT / "pages" / "spend.py"), default_timeout=120)
    _run(at)
    buttons = [b for b in at.button if b.label == "Definition"]
    assert buttons, "the spend page shows its KPI tiles with a Definition button"
    buttons[0].click()
    _run(at)
    assert _dialog_shown(at)
    at.session_state["f_cc"] = ["CC2"]
    _run(at)
    assert not _dialog_shown(at)
