"""Six students watch their live training on one server: every run finishes, the server answers.

Before the hall settings (runner.postScriptGC, a 2 s live refresh, runs sharing the cores),
six watching sessions on a 2-core server finished no run in 25 minutes.
"""

import pytest

from bench.bench_watchers import watch_runs

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_six_watching_sessions_all_finish(served_app, browser):
    r = watch_runs(served_app, browser, 6, timeout_s=480)
    print(r)
    assert r["finished"] == 6, r
    assert r["health_failures"] == 0, r
    assert r["health_max_ms"] < 10_000, r  # the server kept answering while six runs trained
