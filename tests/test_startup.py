"""Explainer pages never import torch: each is run in a fresh interpreter that then reports."""

import subprocess
import sys
from pathlib import Path

import pytest

from pages._registry import PAGES

pytestmark = pytest.mark.slow  # each test starts a fresh interpreter

ROOT = Path(__file__).resolve().parent.parent
TORCH_PAGES = {
    "pages/train.py",
    "pages/evaluate.py",
    "pages/classify.py",
    "pages/inside.py",
}  # they train or run models
TORCH_FREE = ["app.py", *(p.path for p in PAGES if p.path not in TORCH_PAGES)]

PROBE = """
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({path!r}, default_timeout=120)
at.run()
assert not at.exception, at.exception
print("TORCH" if "torch" in sys.modules else "NO-TORCH")
"""


@pytest.mark.parametrize("path", TORCH_FREE)
def test_explainer_page_does_not_import_torch(path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(path=str(ROOT / path))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("NO-TORCH"), f"{path} imported torch"
