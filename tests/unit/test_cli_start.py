"""``emwatch`` start-up (issue 10 §3): no heavy import before a command needs it, no empty command
group in ``--help``, a listed command module that cannot be imported fails loudly, and
``emwatch status`` names where it looked. No timing here: the figures are in the report."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

from streams import cli

REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "numpy",
    "pandas",
    "pyarrow",
    "chdb",
    "clickhouse_connect",
    "kafka",
    "faust",
    "streamlit",
    "torch",
    "cv2",
    "ultralytics",
    "pydantic",
)
O4 = next(
    v["hex"]
    for v in json.loads((REPO / "tests" / "data" / "vectors" / "obd_frames.json").read_text())[
        "vectors"
    ]
    if v["id"] == "O4"
)


def _loaded_after(code: str) -> list[str]:
    """Heavy modules present after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import streams.cli as c\nc.build_parser()",
        "import contextlib, io, streams.cli as c\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert c.main(['decode', 'obd', '{O4}']) == 0",
    ],
    ids=["help", "decode-obd"],
)
def test_help_and_decode_import_nothing_heavy(code: str) -> None:
    assert _loaded_after(code) == []


def test_help_lists_no_group_without_commands() -> None:
    parser, groups = cli.build_parser()
    root = groups["root"]
    for name, sub in root.choices.items():
        if name in cli.GROUPS:
            actions = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
            assert actions and actions[0].choices, f"group {name} listed without commands"
    # the group is listed (one line "  report  …") exactly when a module registered a command in it
    listed = re.findall(r"^\s+report\s", parser.format_help(), re.MULTILINE)
    assert len(listed) == ("report" in root.choices)


def test_a_group_appears_once_a_module_registers_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("emw_test_report_cli")

    def register(groups: dict) -> None:
        assert "report" in groups and "nope" not in groups  # asking does not add it
        p = groups["report"].add_parser("weekly", help="weekly report")
        p.set_defaults(func=lambda a: 0)

    mod.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "emw_test_report_cli", mod)
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("emw_test_report_cli",))
    parser, groups = cli.build_parser()
    assert set(groups["root"].choices) >= {"report"}
    assert "decode" not in groups["root"].choices and "simulate" not in groups["root"].choices
    assert parser.parse_args(["report", "weekly"]).func(None) == 0


@pytest.mark.parametrize("missing", ["emw_no_such_package.cli", "streams.emw_no_such_cli"])
def test_a_listed_module_that_cannot_be_imported_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, missing))
    with pytest.raises(ImportError, match=missing.replace(".", r"\.")):
        cli.build_parser()
    with pytest.raises(ImportError):
        cli.main(["--help"])


def test_a_listed_module_without_register_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("core.errors",))
    with pytest.raises(ImportError, match="register"):
        cli.build_parser()


def test_every_listed_module_is_imported() -> None:
    for name in cli.COMMAND_MODULES:
        assert callable(cli.import_command_module(name).register)


def test_status_without_a_platform_names_the_host_and_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("EMW_DASHBOARD_PORT", str(port))
    monkeypatch.setenv("EMW_DATA_DIR", str(tmp_path))
    assert cli.main(["status"]) == 2
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and err.count("\n") == 1
