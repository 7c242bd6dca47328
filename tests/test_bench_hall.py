"""The hall benchmark's quick mode: four students press Train at once, and all of them finish."""

import pytest

pytestmark = pytest.mark.slow


def test_four_sessions_all_finish_and_the_figures_add_up(capsys):
    from bench import bench_hall

    (result,) = bench_hall.main(["--sessions", "4", "--epochs", "1"])
    out = capsys.readouterr().out
    assert result["n"] == 4 and result["done"] == 4  # every student's run finished
    assert result["accuracy"] > 0.8  # and learned: one epoch of digits
    assert 0 < result["p50"] <= result["p95"] <= result["all_done"] + 1.0
    assert result["throughput"] == pytest.approx(4 / result["all_done"] * 60)
    assert result["explainer_ms"] > 0  # the explainer page was rerun while they trained
    last = out.strip().splitlines()[-1]
    assert last.startswith("hall: 4 sessions, all done ") and "explainer rerun" in last
    assert "queue keeps 0 owners" in out  # nothing piles up once the runs have ended
