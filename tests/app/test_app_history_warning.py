"""The definitions page names a history line changed after it was written, above the
history it still lists (kpi.workflows.history_chain; `kpi check` reports the same)."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from kpi.core.people import Person
from kpi.workflows.definition_saves import edit_kpi
from kpi.workflows.definition_versions import file_version, history_path_for

ROOT = Path(__file__).resolve().parents[2]
FIN = Person("sam.okafor@example.org", "Sam Okafor", "finance", "member")


def test_a_garbled_history_line_is_a_warning_on_the_page(tmp_path, monkeypatch, store):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    monkeypatch.setenv("KPI_CONFIG", str(config))
    kpis = config / "kpis.yaml"
    for n in (1, 2):
        edit_kpi(kpis, FIN, "total_spend", {"name": f"Spend {n}"}, f"why {n}", file_version(kpis))
    hist = history_path_for(kpis)
    first, second = hist.read_text(encoding="utf-8").splitlines()
    hist.write_text(first[:30] + "\n" + second + "\n", encoding="utf-8")
    at = AppTest.from_file(str(ROOT / "pages" / "definitions.py"), default_timeout=120)
    at.session_state["def_pick"] = "total_spend"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warned = [w.value for w in at.warning if "history was changed" in w.value]
    assert len(warned) == 1
    assert "kpis.history.jsonl, line 1: broken line" in warned[0].replace("\\", "")
    shown = [m.value for m in at.markdown]
    assert any("why 2" in m for m in shown) and not any("why 1" in m for m in shown)
