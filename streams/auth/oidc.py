"""Production login: Streamlit's ``st.login`` against an OIDC provider (Keycloak in compose).

Streamlit reads its OIDC client from an ``[auth]`` section of a secrets file. ``write_secrets``
writes that file (0600, under ``<data_dir>/auth``) from settings, so the client secret and the
cookie secret come from the environment (compose's ``.env``), never from a committed file;
``emwatch dashboards`` passes it to Streamlit with the ``secrets.files`` option. The scope is then
made from the ID token's ``emw_role`` / ``emw_jurisdiction`` / ``emw_stations`` claims
(``dashboards.auth.scope_from_claims``), which the realm file maps from Keycloak user attributes.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from core.credentials import _write_private


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_secrets(
    path: Path,
    *,
    metadata_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    cookie_secret: str | None = None,
) -> Path:
    """Write Streamlit's ``[auth]`` secrets for one OIDC provider; returns the path."""
    lines = [
        "[auth]",
        f"redirect_uri = {_toml_str(redirect_uri)}",
        f"cookie_secret = {_toml_str(cookie_secret or secrets.token_urlsafe(32))}",
        f"client_id = {_toml_str(client_id)}",
        f"client_secret = {_toml_str(client_secret)}",
        f"server_metadata_url = {_toml_str(metadata_url)}",
        "",
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    _write_private(tmp, {})  # create with 0600 first, then fill
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(path)
    return path


def secrets_from_settings(settings: object) -> Path:
    """The secrets file for ``settings`` (EMW_OIDC_*); raises ConfigError naming what is missing."""
    from core.errors import ConfigError

    s = settings
    missing = [
        f"EMW_OIDC_{k.upper()}"
        for k in ("metadata_url", "client_id", "client_secret", "redirect_uri")
        if not getattr(s, f"oidc_{k}")
    ]
    if missing:
        raise ConfigError("environment", ", ".join(missing), "set for EMW_AUTH=oidc")
    cookie = getattr(s, "oidc_cookie_secret", None)
    return write_secrets(
        Path(getattr(s, "data_dir")) / "auth" / "streamlit-secrets.toml",  # noqa: B009
        metadata_url=str(getattr(s, "oidc_metadata_url")),  # noqa: B009
        client_id=str(getattr(s, "oidc_client_id")),  # noqa: B009
        client_secret=getattr(s, "oidc_client_secret").get_secret_value(),  # noqa: B009
        redirect_uri=str(getattr(s, "oidc_redirect_uri")),  # noqa: B009
        cookie_secret=cookie.get_secret_value() if cookie is not None else None,
    )
