"""The Documents page (issue 16, point 4): a link opens an invoice line's or an order line's
three-way view, the lookup widgets do the same, and an unknown id or an empty store is said
in words. Runs on tests/documents_fixture.py (its docstring works the figures out).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kpi.store.database import Store
from tests import documents_fixture

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "documents.py")


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Store:
    s = documents_fixture.build(tmp_path / "kpi.duckdb")
    monkeypatch.setenv("KPI_DB", str(s.path))
    return s


def _run(at: AppTest | None = None, **params: str) -> AppTest:
    if at is None:
        at = AppTest.from_file(PAGE, default_timeout=120)
        for key, value in params.items():
            at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _words(elements) -> list[str]:
    """The texts shown, markdown escapes removed (data is shown escaped, as typed)."""
    return [str(e.value).replace("\\", "") for e in elements]


def _cells(at: AppTest) -> set[str]:
    return {str(v) for d in at.dataframe for col in d.value.columns for v in d.value[col]}


def test_a_link_opens_an_invoice_lines_documents(store):
    at = _run(invoice="INV1", line="1")
    assert _words(at.subheader) == ["Invoice INV1 line 1"]
    shown = _words(at.markdown)
    for section in ("**Invoice line**", "**Purchase order line**", "**Receipts**", "**Payment**"):
        assert section in shown
    # due 02-11, paid 02-20 (see the fixture)
    assert any("paid 9 days late" in m for m in shown)
    assert any(s.startswith("Three-way match: price within") for s in _words(at.success))
    # the invoice line's own row of the export, and words where none was recorded
    cells = _cells(at)
    assert "invoices_jan.xlsx, sheet Invoices, row 2 (load 1)" in cells
    assert "not recorded" in cells and "—" in cells
    assert any("its item P1 is on this line" in c for c in _words(at.caption))
    # the link stays in the address bar
    assert at.query_params["invoice"] == "INV1" and at.query_params["line"] == "1"


def test_a_link_opens_an_order_lines_documents_with_its_totals(store):
    at = _run(po="PO1", line="2")
    assert _words(at.subheader) == ["Purchase order PO1 line 2"]
    assert "No goods receipt recorded for PO1 line 2." in _words(at.info)
    totals = next(d.value for d in at.dataframe if "measure" in d.value.columns)
    open_amounts = dict(zip(totals["measure"], totals["amount"], strict=True))
    # 200.00 ordered, INV3's 90.00 invoiced and unpaid
    assert open_amounts["Open to invoice (ordered less invoiced)"] == Decimal("110.00")
    assert open_amounts["Open to pay (invoiced less paid)"] == Decimal("90.00")
    assert [b.label for b in at.get("download_button")] == ["⬇ CSV", "⬇ Excel"]


def test_the_lookup_widgets_open_an_order_line(store):
    at = _run()
    assert any("Type the invoice's id" in i for i in _words(at.info))
    at.radio[0].set_value("A purchase order line")
    at = _run(at)
    at.text_input[0].input("PO1")
    at = _run(at)
    assert at.selectbox[0].options == ["1", "2"]
    assert _words(at.subheader) == ["Purchase order PO1 line 1"]
    at.selectbox[0].set_value(2)
    at = _run(at)
    assert _words(at.subheader) == ["Purchase order PO1 line 2"]
    assert at.query_params["po"] == "PO1" and at.query_params["line"] == "2"


def test_an_invoice_with_a_price_above_its_order_shows_the_exception(store):
    at = _run(invoice="INV3", line="1")
    verdict = _words(at.warning)
    assert any(v.startswith("Three-way match exception: unit price above") for v in verdict)


def test_an_unknown_id_is_said_in_words(store):
    at = _run(invoice="INV-404", line="1")
    assert _words(at.warning) == [
        "No invoice INV-404 in the store. Check the id as it is on the export, or load the "
        "file on the **Data** page."
    ]
    assert not at.subheader
    at = _run(invoice="INV", line="1")  # a prefix: the ids that start with it
    assert _words(at.warning) == ["No invoice INV. Ids starting with it: INV1, INV2, INV3, INV4, "
                                  "INV5, INV6."]  # fmt: skip
    at = _run(po="PO1", line="7")
    assert _words(at.warning)[0] == (
        "The purchase order PO1 has no line 7; its lines are 1, 2. Choose one below."
    )


def test_an_empty_store_says_what_to_load(tmp_path, monkeypatch):
    empty = Store(tmp_path / "kpi.duckdb")
    with empty.write(fresh=True):
        pass
    monkeypatch.setenv("KPI_DB", str(empty.path))
    at = _run(invoice="INV1", line="1")
    assert _words(at.info)[-1] == (
        "**No invoices or purchase orders in the store yet.** Load them on the **Data** "
        "page, then look a line up here."
    )


@pytest.mark.parametrize(
    "who", ["Lee Chen (operations, viewer)", "Jonas Berg (procurement, member)"]
)
def test_every_role_may_read_the_documents(store, who):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["acting_as"] = who
    at.query_params["po"] = "PO1"
    at.query_params["line"] = "1"
    at = _run(at)
    assert _words(at.subheader) == ["Purchase order PO1 line 1"]
