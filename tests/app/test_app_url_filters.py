"""The sidebar's filters live in the URL (bind="query-params"): a reload, a bookmark or a
link sent to a colleague opens the same slice; a value the data does not offer is dropped."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


def _opened(**params: str | list[str]) -> AppTest:
    """The overview opened from a URL carrying `params`."""
    at = AppTest.from_file(str(ROOT / "pages/overview.py"), default_timeout=120)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _box(at: AppTest, key: str):
    return next(w for w in (*at.sidebar.multiselect, *at.sidebar.selectbox) if w.key == key)


def test_a_link_opens_the_slice_it_names_and_drops_what_the_data_lacks(store):
    at = _opened(f_cc=["CC2", "CC-NOPE"], f_cat="Packaging-nope", currency="XYZ")
    assert _box(at, "f_cc").value == ["CC2"]  # the unknown cost centre dropped
    assert _box(at, "f_cat").value == []  # an unknown category: all categories
    assert "cost centre: CC2" in " ".join(str(c.value) for c in at.caption)
    assert "CC-NOPE" not in str(at.query_params.get("f_cc"))  # dropped from the URL too
    assert "f_cat" not in at.query_params and "currency" not in at.query_params


def test_without_filters_in_the_url_the_defaults_and_a_clean_url(store):
    at = _opened()
    assert _box(at, "f_cc").value == [] and _box(at, "f_cat").value == []
    assert not {"f_cc", "f_cat", "periods", "currency"} & set(at.query_params)
    # (a pick written into the URL is the browser's work: tests/browser/test_browser.py)
