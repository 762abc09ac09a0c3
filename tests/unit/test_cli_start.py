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
from typing import Any

import pytest

from core.plugin import Plugin, PluginError
from streams import catalog, cli

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


def _plugin_with_cli(name: str, loader: Any) -> Plugin:
    return Plugin(name, cli=loader)


def test_a_group_appears_once_a_module_registers_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    mod = types.ModuleType("emw_test_report_cli")

    def register(groups: dict) -> None:
        assert "report" in groups and "nope" not in groups  # asking does not add it
        p = groups["report"].add_parser("weekly", help="weekly report")
        p.set_defaults(func=lambda a: 0)

    mod.register = register  # type: ignore[attr-defined]
    monkeypatch.setattr(catalog, "PLUGINS", (_plugin_with_cli("emw_test", lambda: mod),))
    parser, groups = cli.build_parser()
    assert set(groups["root"].choices) >= {"report"}
    assert "decode" not in groups["root"].choices and "simulate" not in groups["root"].choices
    assert parser.parse_args(["report", "weekly"]).func(None) == 0


def _import_missing_package() -> types.ModuleType:
    import emw_no_such_package.cli  # type: ignore[import-not-found]

    return emw_no_such_package.cli  # type: ignore[no-any-return]


def _import_missing_module() -> types.ModuleType:
    from streams import emw_no_such_cli  # type: ignore[attr-defined]

    return emw_no_such_cli  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "loader", [_import_missing_package, _import_missing_module], ids=["package", "module"]
)
def test_a_plugins_cli_that_cannot_be_imported_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, loader: Any
) -> None:
    monkeypatch.setattr(
        catalog, "PLUGINS", (*catalog.PLUGINS, _plugin_with_cli("emw_broken", loader))
    )
    with pytest.raises(PluginError, match=r"emw_broken.*cli.*emw_no_such"):
        cli.build_parser()
    with pytest.raises(ImportError):
        cli.main(["--help"])


def test_a_plugins_cli_without_register_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.errors

    monkeypatch.setattr(catalog, "PLUGINS", (_plugin_with_cli("emw_test", lambda: core.errors),))
    with pytest.raises(PluginError, match="register"):
        cli.build_parser()


def test_every_plugins_cli_is_imported() -> None:
    mods = catalog.command_modules()
    assert {m.__name__ for m in mods} >= {
        "obd_gateway.cli",
        "fuel_vapor.cli",
        "streams.deadletter_cli",
    }
    assert all(callable(m.register) for m in mods)


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


def test_the_console_log_leaves_out_font_subsetting_chatter() -> None:
    # the weekly report's PDF subsets its CJK font; fontTools logs every table at INFO
    import logging

    from streams.cli import _logging

    _logging("INFO")
    assert logging.getLogger("fontTools").level == logging.WARNING
    assert logging.getLogger("fontTools.subset").getEffectiveLevel() >= logging.WARNING
