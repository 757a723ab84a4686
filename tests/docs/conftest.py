"""The built site, shared by the docs tests.

``mkdocs build --strict`` runs once per test session (it trains the interactive figure's nine
small models and runs tutorials 01 and 05 for their outputs: a build costs about a minute on
two cores), and every test that reads the site — the page checks in test_docs.py, the browser
sweep, the interactive figure — reads this one. The build is strict: a warning (a broken
link, a missing page) fails it, and with it every test that needs the site, each saying why.
Every tutorial is run as a notebook by tests/course/test_tutorials.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """The folder of the site built once by ``mkdocs build --strict``."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1", "TINYBCNN_DOCS_EXECUTE": "01,05"})
    if result.returncode != 0:
        pytest.fail("mkdocs build --strict failed:\n" + result.stdout[-4000:]
                    + result.stderr[-4000:])
    yield site
    shutil.rmtree(site, ignore_errors=True)
