"""No plain secret in a committed file: device credentials are digests or environment references,
the compose file takes its passwords from an uncommitted env file with no default, embedded
servers bind loopback unless told otherwise."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from core.credentials import is_stored_form

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEYS = ("password", "token", "terminal_id", "pw", "secret", "client_secret")
# shapes of the secrets this repository once held, and of common leaks
LEAK_PATTERNS = [
    re.compile(r"""password:\s*["']?\d{4,}["']?\s*$""", re.M),
    re.compile(r"\bdev-[a-z0-9]{2,6}-[0-9a-f]{6}\b"),
    re.compile(r"emw-dev-only"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\$\{[A-Z_]*(PASSWORD|SECRET|TOKEN)[A-Z_]*:-[^}]+\}"),  # compose default secret
]


def committed_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
        names = [n for n in out.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # an exported tree without .git
        names = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not {".venv", "var", ".git"} & set(p.relative_to(ROOT).parts)
        ]
    return [ROOT / n for n in names if (ROOT / n).is_file()]


def _walk(node: object, path: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, node


def test_registry_credentials_are_digests_or_env_references() -> None:
    files = sorted((ROOT / "core" / "data" / "registry").glob("*.yaml"))
    assert files
    checked = 0
    for f in files:
        for path, value in _walk(yaml.safe_load(f.read_text(encoding="utf-8"))):
            if path.rsplit(".", 1)[-1] in SECRET_KEYS and value not in (None, ""):
                assert is_stored_form(str(value)), f"{f.name}{path} holds a plain secret"
                checked += 1
    assert checked >= 20  # every station, depot, sensor and RSD site


def test_no_plain_secret_in_any_committed_file() -> None:
    hits = []
    for f in committed_files():
        if f.suffix in {".onnx", ".pt", ".png", ".jpg", ".gz", ".parquet"} or f == Path(__file__):
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for pat in LEAK_PATTERNS:
            for m in pat.finditer(text):
                hits.append(f"{f.relative_to(ROOT)}: {m.group(0)[:40]}")
    assert not hits, hits


def test_compose_secrets_come_from_an_uncommitted_env_file() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    refs = re.findall(r"\$\{([A-Z_]*(?:PASSWORD|SECRET)[A-Z_]*)(:[?-])?[^}]*\}", compose)
    assert refs, "the compose file should reference its passwords"
    assert all(op == ":?" for _, op in refs), refs  # required, never defaulted
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name, _ in refs:
        line = next(ln for ln in example.splitlines() if ln.startswith(f"{name}="))
        assert line == f"{name}=", f".env.example must not hold a value for {name}"
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert not (ROOT / ".env").exists() or ".env" not in {p.name for p in committed_files()}


def test_servers_bind_loopback_unless_told_otherwise(monkeypatch) -> None:
    from streams.cli import build_parser
    from streams.settings import load_settings

    monkeypatch.delenv("EMW_HOST", raising=False)
    assert load_settings().host == "127.0.0.1"
    parser, _ = build_parser()
    assert parser.parse_args(["gateway", "obd"]).host is None  # falls back to EMW_HOST
    src = (ROOT / "streams" / "cli.py").read_text(encoding="utf-8")
    assert '"0.0.0.0"' not in src
