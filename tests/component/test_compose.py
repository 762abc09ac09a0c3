"""Structure of the production deployment (docker-compose.yml, Dockerfile, .dockerignore).

No Docker engine is needed: the files are parsed and checked against the code they drive (the
``emwatch`` command line, the settings, the pinned extras).
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

pytestmark = pytest.mark.component

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
INFRA = {"kafka", "clickhouse", "keycloak"}
EXPECTED_EXTRAS = {
    "migrate": "",
    "worker": "",
    "gateway-obd": "",
    "gateway-hj212": "",
    "gateway-rsd": "",
    "gateway-smoke": "vision",
    "dashboards": "dashboards",
    "report-scheduler": "dashboards",
}
HEALTH_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _app(services: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in services.items() if n not in INFRA}


def test_every_part_of_the_platform_is_a_service(services: dict[str, Any]) -> None:
    assert set(services) == INFRA | set(EXPECTED_EXTRAS)
    assert not any(
        "zookeeper" in n or "zookeeper" in str(s.get("image", "")) for n, s in services.items()
    )
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), f"{name}: neither image nor build"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")


def test_app_images_come_from_the_one_dockerfile_with_their_extras(
    services: dict[str, Any],
) -> None:
    tag_extras: dict[str, str] = {}
    for name, svc in _app(services).items():
        build = svc["build"]
        assert build["context"] == "." and build["dockerfile"] == "Dockerfile", name
        extras = build["args"]["EXTRAS"]
        assert extras == EXPECTED_EXTRAS[name], f"{name}: EXTRAS={extras!r}"
        # one tag, one set of extras: services sharing an image must build it the same way
        assert tag_extras.setdefault(svc["image"], extras) == extras, f"{name}: {svc['image']}"
    assert len(tag_extras) == 3


def test_kafka_runs_in_kraft_mode_with_a_valid_cluster_id(services: dict[str, Any]) -> None:
    env = services["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in env["KAFKA_LISTENERS"]
    cid = env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16, "CLUSTER_ID must be a base64 UUID"
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"


def test_services_that_serve_have_healthchecks(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        if svc.get("ports") or name in {"worker", "kafka", "clickhouse"}:
            test = svc.get("healthcheck", {}).get("test")
            assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck"


def test_healthcheck_ports_match_the_published_ports_and_settings(services: dict[str, Any]) -> None:
    from streams.settings import Settings

    defaults = Settings.model_fields
    expected = {
        "gateway-obd": defaults["obd_port"].default,
        "gateway-hj212": defaults["hj212_port"].default,
        "gateway-rsd": defaults["rsd_port"].default,
        "dashboards": defaults["dashboard_port"].default,
    }
    for name, port in expected.items():
        svc = services[name]
        assert f"127.0.0.1:{port}:{port}" in svc["ports"], name
        assert str(port) in " ".join(svc["healthcheck"]["test"]), name


def test_depends_on_targets_exist_with_meaningful_conditions(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        deps = svc.get("depends_on", {})
        items = deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)
        for target, spec in items:
            assert target in services, f"{name} depends on unknown service {target}"
            cond = spec.get("condition", "service_started")
            assert cond in HEALTH_CONDITIONS, f"{name} -> {target}: {cond}"
            if cond == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health"
            if cond == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} must be a one-shot"
    assert "migrate" in services["worker"]["depends_on"]


def test_named_volumes_are_declared_and_used(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in compose["services"].items():
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0] if isinstance(vol, str) else vol["source"]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared
    assert {"kafka-data", "clickhouse-data"} <= declared


def test_app_environment_names_real_settings_and_reaches_the_servers(
    services: dict[str, Any],
) -> None:
    from streams.settings import Settings

    fields = {f"EMW_{n.upper()}" for n in Settings.model_fields}
    kafka_env = services["kafka"]["environment"]
    for name, svc in _app(services).items():
        env = svc["environment"]
        unknown = {k for k in env if k.startswith("EMW_")} - fields
        assert not unknown, f"{name}: settings that do not exist: {unknown}"
        assert env["EMW_BUS"] == "kafka"
        host, port = env["EMW_KAFKA_BOOTSTRAP"].split(":")
        assert (
            host in services
            and f"PLAINTEXT://{host}:{port}" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
        ), name
        # compose interpolates ${VAR:?message} from .env first; stand in a value for it
        dsn = urlsplit(re.sub(r"\$\{[^}]*\}", "from-env", env["EMW_WAREHOUSE_DSN"]))
        assert (dsn.scheme, dsn.hostname, dsn.port) == ("http", "clickhouse", 8123), name
        assert dsn.username == services["clickhouse"]["environment"]["CLICKHOUSE_USER"]
        assert (
            env["EMW_WAREHOUSE_DATABASE"] == services["clickhouse"]["environment"]["CLICKHOUSE_DB"]
        )


def test_every_emwatch_command_in_compose_exists_in_the_cli(services: dict[str, Any]) -> None:
    from streams.cli import build_parser

    parser, _ = build_parser()
    commands = {name: svc["command"] for name, svc in _app(services).items()}
    assert commands["migrate"] == ["migrate"]
    assert commands["worker"] == ["worker"]
    assert commands["dashboards"] == ["dashboards"]
    assert {tuple(commands[f"gateway-{g}"]) for g in ("obd", "hj212", "rsd", "smoke")} == {
        ("gateway", g) for g in ("obd", "hj212", "rsd", "smoke")
    }
    for name, argv in commands.items():
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # argparse's way of saying "no such command/choice"
            pytest.fail(f"{name}: `emwatch {' '.join(argv)}` is not a valid command")
        assert callable(getattr(args, "func", None)), f"{name}: {argv} has no handler"


def test_dockerfile_is_slim_non_root_agpl_and_respects_the_torch_pin() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms == ["python:3.11-slim"]
    assert re.search(r'^ARG EXTRAS=""$', text, re.M)
    assert ".[${EXTRAS}]" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}
    assert 'org.opencontainers.image.licenses="AGPL-3.0-or-later"' in text
    assert re.search(r'^ENTRYPOINT \["emwatch"\]$', text, re.M)  # compose commands are subcommands

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    vision = pyproject["project"]["optional-dependencies"]["vision"]
    (torch_pin,) = [r for r in vision if re.match(r"torch\s*==", r)]
    pinned = torch_pin.split("==")[1].strip()
    assert re.search(rf'^ARG TORCH_VERSION="{re.escape(pinned)}"$', text, re.M), (
        f"Dockerfile checks torch {pinned} (pyproject pin) after installing the vision extra"
    )
    for extras in set(EXPECTED_EXTRAS.values()) - {""}:
        assert extras in pyproject["project"]["optional-dependencies"], extras


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    lines = {
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    assert {".git", ".venv", "var", "**/__pycache__"} <= lines
    # the packages the image installs must stay in the context
    packages = pyproject_packages()
    assert not lines & packages, lines & packages


def pyproject_packages() -> set[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return {p.rstrip("*") for p in include} | {"pyproject.toml", "README.md", "LICENSE"}


def test_keycloak_realm_is_provisioned_from_the_repository(services: dict[str, Any]) -> None:
    import json

    kc = services["keycloak"]
    assert "--import-realm" in kc["command"]
    assert any(v.startswith("./deploy/keycloak:") for v in kc["volumes"])
    realm = json.loads((REPO / "deploy" / "keycloak" / "emwatch-realm.json").read_text())
    (client,) = realm["clients"]
    assert client["clientId"] == services["dashboards"]["environment"]["EMW_OIDC_CLIENT_ID"]
    assert client["secret"] == "${EMW_OIDC_CLIENT_SECRET}"  # a placeholder, never a value
    mapped = {m["config"]["claim.name"] for m in client["protocolMappers"]}
    assert mapped == {"emw_role", "emw_jurisdiction", "emw_stations"}
    from core.access import ROLES
    from dashboards.auth import scope_from_claims

    roles = set()
    for u in realm["users"]:  # every example user makes a valid scope, every role is shown
        claims = {"preferred_username": u["username"]}
        claims.update({k: v[0] for k, v in u["attributes"].items()})
        roles.add(scope_from_claims(claims).roles[0])
        assert all(c["value"].startswith("${") for c in u["credentials"])
    assert roles == set(ROLES)
    assert services["dashboards"]["environment"]["EMW_AUTH"] == "oidc"
