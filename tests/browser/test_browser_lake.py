"""The app on a lake in a real browser: Sam loads a file on the Data page, it lands in the
lake (the page names the lake and its new write), its bad row is kept with its reason, and
the overview reads the lake. A viewer's upload form is disabled there as on the store file.
Run twice: the lake in a folder, and the lake in S3 (moto's server in this process; the
app's process reaches it over HTTP, with a cache folder of its own, as another machine).
"""

from __future__ import annotations

import shutil

import pytest

from kpi.core.settings import Settings
from kpi.store.lake import LakeStore
from kpi.store.lake_migrate import migrate_to_lake
from tests.browser.support import (
    ARTIFACTS,
    ROOT,
    browser_marks,
    expect_text,
    open_page,
    problems,
    running_app,
    wait_idle,
)

pytestmark = browser_marks()

SAM, LEE = "sam.okafor@example.org", "lee.chen@example.org"
NAME = "lake_2026-11.csv"
REASON = "row 2 (line 3): invoice_date '2026-11-31' is not a date (expected YYYY-MM-DD)"


@pytest.fixture(scope="module", params=["folder", "s3"])
def where(request, tmp_path_factory):
    """Where the lake is (a folder, or an S3 URL), with the environment set for it."""
    folder = tmp_path_factory.mktemp("browser_lake")
    if request.param == "folder":
        yield str(folder / "lake"), {}
        return
    import boto3
    from moto.server import ThreadedMotoServer

    from kpi.store import object_lake

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "KPI_LAKE_CACHE": str(folder / "cache-tests"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        object_lake._store_for.cache_clear()
        boto3.client("s3").create_bucket(Bucket="kpi-browser")
        yield "s3://kpi-browser/group/lake", {"KPI_LAKE_CACHE": str(folder / "cache-app")}
        object_lake._store_for.cache_clear()
    server.stop()


@pytest.fixture(scope="module")
def lake(demo_db, where) -> LakeStore:
    lake = LakeStore(where[0], Settings(store="lake"))
    assert migrate_to_lake(demo_db, lake).ok
    return lake


@pytest.fixture(scope="module")
def app_url(lake, where, tmp_path_factory):
    config = tmp_path_factory.mktemp("browser_lake_config") / "config"
    shutil.copytree(ROOT / "config", config)
    with pytest.MonkeyPatch.context() as env:  # the app's process reads the lake
        env.setenv("KPI_STORE", "lake")
        env.setenv("KPI_LAKE", str(lake.location))
        for name, value in where[1].items():
            env.setenv(name, value)
        with running_app(None, config=config, wait_stopped=False) as url:
            yield url


def test_sam_loads_a_file_into_the_lake_and_a_viewer_may_not(page, app_url, lake, tmp_path):
    with lake.read() as con:
        supplier, item = con.execute(
            "SELECT supplier_id, item_id FROM invoices ORDER BY invoice_id LIMIT 1"
        ).fetchone()
        lines_before = con.execute("SELECT count(*) FROM invoices").fetchone()[0]
    serial = lake.manifest().serial
    upload = tmp_path / NAME
    upload.write_text(
        "invoice_id,invoice_line,supplier_id,invoice_date,due_date,item_id,quantity,"
        "unit_price,amount,currency\n"
        f"LK-1,1,{supplier},2026-11-02,2026-12-02,{item},10,12.50,125.00,EUR\n"
        f"LK-2,1,{supplier},2026-11-31,2026-12-31,{item},1,12.50,12.50,EUR\n",
        encoding="utf-8",
    )
    open_page(page, f"{app_url}/data", SAM, wait_for="h1")
    expect_text(page, f"Read from the lake {lake.location} (Delta tables, one per store table; "
                f"write no. {serial:,})")  # fmt: skip
    page.get_by_role("tab", name="Upload a file").click()
    page.get_by_role("combobox", name="Table").click()
    page.get_by_role("option", name="invoices — ").click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(upload))
    page.locator('[data-testid="stFileUploader"]').get_by_text(NAME).first.wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Load the file").click()
    expect_text(page, f"{NAME}: 1 row loaded into invoices, 1 rejected.")
    wait_idle(page)
    assert REASON in page.inner_text("body")
    kind = "s3" if lake.remote else "folder"
    page.screenshot(path=str(ARTIFACTS / f"browser_lake_upload_{kind}.png"), full_page=True)
    assert problems(page) == []
    # in the lake, as one new write: the good line, and the bad one kept with its reason
    assert lake.manifest().serial == serial + 1
    with lake.read() as con:
        assert con.execute("SELECT count(*) FROM invoices").fetchone()[0] == lines_before + 1
        amount = con.execute("SELECT amount FROM invoices WHERE invoice_id = 'LK-1'").fetchone()
        assert str(amount[0]) == "125.00"
        assert (
            con.execute("SELECT reason FROM rejects ORDER BY load_id DESC LIMIT 1")
            .fetchone()[0]
            .endswith("invoice_date '2026-11-31' is not a date (expected YYYY-MM-DD)")
        )
    expect_text(page, f"write no. {serial + 1:,})")  # the page names the new write
    page.reload()
    wait_idle(page)
    expect_text(page, f"write no. {serial + 1:,})")  # and so does a reload

    open_page(page, app_url, SAM, wait_for=".js-plotly-plot")  # the overview reads the lake
    assert page.locator("h1").first.inner_text() == "CFO overview"
    assert problems(page) == []

    open_page(page, f"{app_url}/data", LEE, wait_for="h1")
    page.get_by_role("tab", name="Upload a file").click()
    page.get_by_role("button", name="Load the file").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="Load the file").is_disabled()
    expect_text(page, "Lee Chen (operations, viewer) may not load data")
    assert lake.manifest().serial == serial + 1  # nothing written
