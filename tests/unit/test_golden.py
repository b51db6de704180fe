"""What a user sees on the demo is unchanged: the golden outputs recorded in tests/golden/
(command line and the overview's scorecard download) are reproduced byte for byte."""

from __future__ import annotations

import pytest

from scripts.golden import COMMANDS, GOLDEN, SCORECARDS, build, outputs, same_output


@pytest.fixture(scope="module")
def produced(tmp_path_factory):
    db = tmp_path_factory.mktemp("golden") / "kpi.duckdb"
    build(db)
    return outputs(db)


@pytest.mark.parametrize("name", [*COMMANDS, *SCORECARDS])
def test_output_is_as_recorded(produced, name):
    recorded = (GOLDEN / name).read_bytes()
    assert same_output(recorded, produced[name]), f"{name} changed; diff it against {GOLDEN}"


def test_float_tolerance_is_for_ratios_only():
    assert same_output(b"a,50.884584881173005\n", b"a,50.88458488117294\n")
    assert not same_output(b"a,1234.56\n", b"a,1234.57\n")
    assert not same_output(b"a,0.5000001\n", b"a,0.5000002\n")
    assert not same_output(b"total_spend,1\n", b"total_spend,2\n")
