"""`make lint` as part of `make test`: style, the import layers and the type check.

CI runs `make test` only, so without this a layer violation (a source importing another source, a
dashboard importing the driver) or a type error would land unseen. The package list for mypy is read
from the Makefile's lint target, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    exe = BIN / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it is in the dev extra of pyproject.toml")
    return found


def _run(*cmd: str, drop_pythonpath: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if drop_pythonpath:
        env.pop("PYTHONPATH", None)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def mypy_packages() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    m = re.search(r"^\t@\$\(BIN\)/mypy (.+)$", makefile, flags=re.M)
    assert m, "the Makefile's lint target has no mypy line"
    return m.group(1).split()


def test_ruff_check_is_clean() -> None:
    r = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format_is_clean() -> None:
    r = _run(_tool("ruff"), "format", "--check", "--no-cache", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_import_layers_hold() -> None:
    r = _run(_tool("lint-imports"), "--no-cache")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean_over_the_lint_packages() -> None:
    pkgs = mypy_packages()
    assert {"core", "enforcement", "streams"} <= set(pkgs)
    # Without PYTHONPATH: mypy treats modules found through it as installed and stays silent about
    # their errors, so a developer's shell would pass what CI's clean environment fails.
    r = _run(_tool("mypy"), *pkgs, drop_pythonpath=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
