"""Production login for real: Streamlit's OIDC routes (what ``st.login`` drives) against a local
OIDC provider (``oidc-provider-mock``), authorisation-code flow (PKCE where the provider offers it) through to the signed user cookie that
``st.user`` reads; its claims become the caller's scope. No mocked ``st.user``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from dashboards.auth import scope_from_claims
from streams.auth.oidc import write_secrets

pytestmark = [pytest.mark.component, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]
COOKIE_SECRET = "test-cookie-secret-" + "x" * 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def provider():
    from oidc_provider_mock import User, run_server_in_thread

    users = [
        User(
            sub="li.qp",
            claims={
                "preferred_username": "li.qp",
                "emw_role": "officer",
                "emw_jurisdiction": "qingpu",
            },
        ),
        User(
            sub="op01",
            claims={
                "preferred_username": "op01",
                "emw_role": "station_operator",
                "emw_stations": "QP-ST-0001",
            },
        ),
    ]
    with run_server_in_thread(user_claims=users) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture
def dashboards(provider, tmp_path):
    port = _free_port()
    secrets_file = write_secrets(
        tmp_path / "auth" / "streamlit-secrets.toml",
        metadata_url=f"{provider}/.well-known/openid-configuration",
        client_id="emwatch-dashboards",
        client_secret="client-secret-for-tests",
        redirect_uri=f"http://127.0.0.1:{port}/oauth2callback",
        cookie_secret=COOKIE_SECRET,
    )
    assert secrets_file.stat().st_mode & 0o077 == 0
    code = (
        "import streamlit as st; "
        f"st.App({str(REPO / 'dashboards' / 'app.py')!r}).run(config={{"
        f"'server.port': {port}, 'server.address': '127.0.0.1', 'server.headless': True, "
        "'server.fileWatcherType': 'none', 'browser.gatherUsageStats': False, "
        f"'secrets.files': [{str(secrets_file)!r}]}})"
    )
    env = dict(os.environ, EMW_AUTH="oidc", EMW_DATA_DIR=str(tmp_path), PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/_stcore/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.5)
    else:
        pytest.fail("dashboards did not come up in 90 s")
    yield base
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _provider_token() -> str:
    """What ``st.login()`` puts in the login URL: a provider token signed with the cookie secret."""
    from streamlit import config
    from streamlit.auth_util import encode_provider_token

    config.set_option("server.cookieSecret", COOKIE_SECRET)
    return encode_provider_token("default")


def _login(base: str, sub: str) -> dict:
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value

    with httpx.Client(follow_redirects=False, timeout=30) as client:
        r = client.get(f"{base}/auth/login", params={"provider": _provider_token()})
        assert r.status_code in (302, 303, 307), r.text[:500]
        authorize = r.headers["location"]
        q = parse_qs(urlsplit(authorize).query)
        assert (
            q["response_type"] == ["code"]
            and q["state"]
            and q["client_id"] == ["emwatch-dashboards"]
        )
        # the provider's login form: choose the user
        r = client.post(authorize, data={"sub": sub})
        assert r.status_code in (302, 303), r.text[:500]
        callback = r.headers["location"]
        assert callback.startswith(f"{base}/oauth2callback?")
        r = client.get(callback)  # Streamlit exchanges the code for tokens at the provider
        assert r.status_code in (302, 303, 307)
        raw = client.cookies.get("_streamlit_user")
        assert raw, "no user cookie after the callback"
    value = decode_signed_value(COOKIE_SECRET, "_streamlit_user", raw.encode("latin-1"))
    assert value is not None, "user cookie not signed with the app's cookie secret"
    return json.loads(value)


def test_oidc_code_flow_gives_the_scope_of_the_tokens_claims(dashboards) -> None:
    user = _login(dashboards, "li.qp")
    assert user["is_logged_in"] is True and user["provider"] == "default"
    scope = scope_from_claims(user)
    assert (scope.user, scope.roles, scope.jurisdictions) == ("li.qp", ("officer",), ("qingpu",))
    op = scope_from_claims(_login(dashboards, "op01"))
    assert op.stations == ("QP-ST-0001",) and op.roles == ("station_operator",)


def test_a_tampered_user_cookie_is_not_accepted() -> None:
    from streamlit.web.server.starlette.starlette_app_utils import (
        create_signed_value,
        decode_signed_value,
    )

    good = create_signed_value(COOKIE_SECRET, "_streamlit_user", json.dumps({"sub": "x"}))
    rest = good.partition(b".")[2]
    other = create_signed_value(COOKIE_SECRET, "_streamlit_user", json.dumps({"sub": "admin"}))
    forged = other.partition(b".")[0] + b"." + rest  # another payload under the first signature
    assert decode_signed_value(COOKIE_SECRET, "_streamlit_user", forged) is None
    bad_sig = good[:-2] + (b"AA" if not good.endswith(b"AA") else b"BB")
    assert decode_signed_value(COOKIE_SECRET, "_streamlit_user", bad_sig) is None
    assert decode_signed_value("another-secret-" + "y" * 20, "_streamlit_user", good) is None
