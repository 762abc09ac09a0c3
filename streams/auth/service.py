"""Login, sessions and refusals in one object shared by the dashboards and the HTTP API.

``AuthService.login`` checks a password (argon2) behind the limiter and audits the outcome;
``AuthService.session`` turns a token (cookie or bearer) into the caller's ``Scope`` and audits a
refused one (tampered, expired, disabled…). The answer to the caller is the same for every
refusal ("用户名或密码错误" / 401), so nothing tells which account exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.access import AccessError
from core.registry import Registry
from core.scope import Scope
from streams.auth.users import (
    SESSION_TTL_S,
    LoginLimiter,
    User,
    UserStore,
    check_session,
    issue_session,
    session_key,
)
from streams.warehouse.audit import Auditor

COOKIE = "emw_session"


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str | None
    user: User | None
    reason: str  # "ok" | "bad_credentials" | "rate_limited"


class AuthService:
    def __init__(
        self,
        data_dir: Path,
        auditor: Auditor,
        registry: Registry | None = None,
        *,
        limiter: LoginLimiter | None = None,
        clock: Callable[[], float] = time.time,
        ttl_s: float = SESSION_TTL_S,
    ) -> None:
        self.store = UserStore.for_data_dir(data_dir, registry)
        self.key = session_key(self.store.auth_dir)
        self.auditor = auditor
        self.registry = registry
        self.limiter = limiter or LoginLimiter(clock=clock)
        self.clock = clock
        self.ttl_s = ttl_s
        self.has_http_routes = False  # set by the runner, which mounts streams.auth.http
        self._codes: dict[str, tuple[str, float]] = {}
        self._codes_lock = threading.Lock()

    def handover_code(self, token: str, ttl_s: float = 30.0) -> str:
        """A single-use code (``ttl_s`` seconds) that ``redeem`` turns back into ``token``: how the
        Streamlit login form hands its session to the browser as an HttpOnly cookie without
        putting the token itself in a URL."""
        import secrets as _s

        code = _s.token_urlsafe(24)
        with self._codes_lock:
            now = self.clock()
            self._codes = {c: v for c, v in self._codes.items() if v[1] > now}
            self._codes[code] = (token, now + ttl_s)
        return code

    def redeem(self, code: str) -> str | None:
        with self._codes_lock:
            got = self._codes.pop(code, None)
        if got is None or got[1] <= self.clock():
            return None
        return got[0]

    def login(self, name: str, password: str, client: str = "") -> LoginResult:
        name = (name or "").strip()[:64]
        keys = (f"user:{name}", f"client:{client}") if client else (f"user:{name}",)
        if self.limiter.blocked(*keys):
            self.auditor.record("login_blocked", user=name, outcome="refused", client=client)
            return LoginResult(None, None, "rate_limited")
        user = self.store.authenticate(name, password or "")
        if user is None:
            self.limiter.failed(*keys)
            self.auditor.record("login_failed", user=name, outcome="refused", client=client)
            return LoginResult(None, None, "bad_credentials")
        try:
            scope = user.scope(self.registry)
        except AccessError:  # a role or station the platform no longer knows
            self.auditor.record("login_failed", user=name, outcome="unknown_role", client=client)
            return LoginResult(None, None, "bad_credentials")
        self.limiter.succeeded(*keys)
        token = issue_session(self.key, user.name, self.clock(), self.ttl_s)
        self.auditor.record("login", user=user.name, scope=scope, client=client)
        return LoginResult(token, user, "ok")

    def session(
        self, token: str | None, client: str = "", audit_missing: bool = False
    ) -> Scope | None:
        """The scope of a valid session token, else None (refusals other than 'missing' audited)."""
        chk = check_session(token, self.key, self.store, self.clock())
        if chk.user is not None:
            try:
                return chk.user.scope(self.registry)
            except AccessError:
                chk = type(chk)(None, "unknown_role", chk.claimed)
        if chk.reason != "missing" or audit_missing:
            self.auditor.record(
                "session_refused",
                user=chk.claimed,
                outcome=chk.reason,
                client=client,
            )
        return None

    def logout(self, scope: Scope | None, client: str = "") -> None:
        if scope is not None:
            self.auditor.record("logout", user=scope.user, scope=scope, client=client)


_lock = threading.Lock()
_service: AuthService | None = None


def set_service(service: AuthService | None) -> None:
    global _service
    with _lock:
        _service = service


def service() -> AuthService | None:
    """The process's AuthService (registered by the runner, or built by the dashboards)."""
    return _service


def bearer(headers: Any) -> str | None:
    auth = headers.get("authorization", "") if headers is not None else ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None
