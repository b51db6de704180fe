"""Two app replicas on the same data and config: two Python processes, each running the KPI
definitions page under AppTest (tests/app/replica_driver.py), pointed at one store and one
`config/` folder by the environment, as two deployed replicas are.

A definition saved in one replica is seen by the other on its next run; two people saving
the same definition at the same moment in two replicas: one save lands, the other is
refused, its author told who saved first and shown both versions, and nothing is lost
(the YAML and the change history hold exactly the saves that landed, and the refused
person redoes theirs on the saved version).

The replicas share one lake (`store: lake`), made from a fixture store by `kpi migrate`, as
a deployment of several replicas keeps its data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kpi.workflows.definition_versions import kpi_history
from tests import hand_fixture

ROOT = Path(__file__).resolve().parents[2]
DRIVER = str(Path(__file__).with_name("replica_driver.py"))
CFO = "Claire Dubois (finance, cfo)"
FINANCE = "Sam Okafor (finance, member)"
EMAIL = {CFO: "claire.dubois@example.org", FINANCE: "sam.okafor@example.org"}
NAME = {CFO: "Claire Dubois", FINANCE: "Sam Okafor"}  # config/people.yaml
KPI = "total_spend"


class Replica:
    """One app process, driven a command at a time (send, then answer)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, DRIVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def send(self, **command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"kpi": KPI, **command}) + "\n")
        self.proc.stdin.flush()

    def answer(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the replica stopped (exit {self.proc.poll()})"
        shown = json.loads(line)
        assert not shown["exception"], shown["exception"]
        return shown

    def do(self, **command: str) -> dict:
        self.send(**command)
        return self.answer()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.send(do="quit")
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _replica_env(tmp_path: Path) -> dict[str, str]:
    """The environment two replicas share: one config folder, one store."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    store = hand_fixture.build(tmp_path / "kpi.duckdb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update(
        KPI_CONFIG=str(config),
        KPI_DB=str(store.path),
        KPI_ROLLUPS="off",  # as the rest of the suite: figures live
        KPI_CACHE_DIR=os.environ.get("KPI_CACHE_DIR", str(tmp_path / "cache")),
        PYTHONPATH=str(ROOT),
    )
    # the replicas share one lake, made from the fixture store by `kpi migrate --to lake`
    lake = tmp_path / "lake"
    migrated = subprocess.run(
        [sys.executable, "-m", "kpi", "migrate", "--to", "lake", "--lake", str(lake)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert migrated.returncode == 0, migrated.stderr or migrated.stdout
    env.update(KPI_STORE="lake", KPI_LAKE=str(lake))
    return env


@pytest.fixture()
def replicas(tmp_path) -> Iterator[tuple[Replica, Replica, Path]]:
    env = _replica_env(tmp_path)
    a, b = Replica(env), Replica(env)
    try:
        yield a, b, Path(env["KPI_CONFIG"]) / "kpis.yaml"
    finally:
        a.stop()
        b.stop()


def _entry(kpis: Path) -> dict:
    data = yaml.safe_load(kpis.read_text(encoding="utf-8"))
    return next(k for k in data["kpis"] if k["id"] == KPI)


def _saved(shown: dict) -> bool:
    return any(s.startswith(f"Saved '{KPI}'") for s in shown["successes"])


def test_two_replicas_see_each_others_saves_and_a_race_loses_nothing(replicas, tmp_path):
    a, b, kpis = replicas
    original = _entry(kpis)["name"]
    a.send(do="open", **{"as": CFO})
    b.send(do="open", **{"as": FINANCE})
    seen_a, seen_b = a.answer(), b.answer()
    assert seen_a["catalogue_name"] == seen_b["catalogue_name"] == original
    # each replica reads the shared lake
    assert "Lake" in seen_a["store"], seen_a["store"]
    assert seen_b["store"] == seen_a["store"]

    # 1. A definition saved in replica A is seen by replica B on its next run.
    a.do(do="edit", field="name", value="Total spend incl credit notes", reason="Board wording")
    go = tmp_path / "go-now"
    go.touch()
    saved = a.do(do="save", go=str(go))
    assert saved["errors"] == [] and _saved(saved), saved
    seen = b.do(do="look")
    assert seen["catalogue_name"] == "Total spend incl credit notes"
    assert "Total spend incl credit notes" in seen["subheader"]

    # 2. Both replicas open the saved version and change the same KPI; both press Save at
    # the same moment (each waits for the file `go`).
    a.send(do="open", **{"as": CFO})
    b.send(do="open", **{"as": FINANCE})
    a.answer(), b.answer()
    texts = {"a": "Invoice lines, credit notes included (A).", "b": "All invoice lines (B)."}
    a.send(do="edit", field="description", value=texts["a"], reason="Clearer (A)")
    b.send(do="edit", field="description", value=texts["b"], reason="Clearer (B)")
    a.answer(), b.answer()
    go = tmp_path / "go-together"
    a.send(do="save", go=str(go))
    b.send(do="save", go=str(go))
    go.touch()
    outcome = {"a": a.answer(), "b": b.answer()}
    landed = [r for r, shown in outcome.items() if _saved(shown)]
    refused = [r for r, shown in outcome.items() if shown["errors"]]
    assert len(landed) == 1 and len(refused) == 1, json.dumps(outcome, indent=1)
    won, lost = landed[0], refused[0]
    who = {"a": CFO, "b": FINANCE}
    # the refused author is told someone saved first, who, and what to do, with both versions
    (message,) = outcome[lost]["errors"]
    assert "changed by someone else since you opened it" in message
    assert f"{NAME[who[won]]} saved '{KPI}' at" in message and "redo your change" in message
    theirs, yours = outcome[lost]["yaml"]
    assert texts[won] in theirs and texts[lost] not in theirs
    assert texts[lost] in yours
    # the YAML holds the save that landed, the history one line per landed save
    assert _entry(kpis)["description"] == texts[won]
    assert _entry(kpis)["name"] == "Total spend incl credit notes"
    history = [(r["who"], r["why"]) for r in kpi_history(kpis, KPI)]
    expected = [(EMAIL[CFO], "Board wording"), (EMAIL[who[won]], f"Clearer ({won.upper()})")]
    assert sorted(history) == sorted(expected)

    # 3. Nothing lost: the refused author starts again on the saved version and redoes it.
    loser = a if lost == "a" else b
    loser.do(do="click", key=f"ed_{KPI}_restart")
    loser.do(do="edit", field="description", value=texts[lost], reason="Mine, on theirs")
    redone = loser.do(do="save", go=str(go))
    assert redone["errors"] == [] and _saved(redone), redone
    assert _entry(kpis)["description"] == texts[lost]
    assert [r["why"] for r in kpi_history(kpis, KPI)].count("Mine, on theirs") == 1
    assert len(kpi_history(kpis, KPI)) == 3
    assert not list(kpis.parent.glob(".kpis.yaml.lease*"))  # every lock given back
