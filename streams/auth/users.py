"""Local accounts of the embedded mode, their sessions, and the failed-login limiter.

- Accounts live in ``<data_dir>/auth/users.json`` (0600): name, role, jurisdictions, stations,
  disabled flag and an argon2id hash (argon2-cffi; salted, slow). There is no default password:
  the first administrator comes from ``emwatch users add NAME --role admin`` or, at the first
  ``emwatch run``, from ``EMW_ADMIN_PASSWORD`` or a random password printed once.
- A session is a signed, expiring token ``v1.<user>.<expires>.<nonce>.<hmac>`` (HMAC-SHA256 with a
  key generated once in ``auth/session.key``); ``check_session`` names why a token is refused
  (``malformed``, ``tampered``, ``expired``, ``unknown_user``, ``disabled``) for the audit trail,
  never for the person at the door.
- ``LoginLimiter``: after ``max_failures`` failed tries for a user name (or from one client) within
  ``window_s``, further tries are refused without checking the password until the window passes.

Production logs in through OIDC (Keycloak, ``st.login``) instead; roles then come from the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.access import ROLES, AccessError, scope_for
from core.credentials import _locked, _read_json, _write_private
from core.registry import Registry, default_registry
from core.scope import Scope

NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD = 10
SESSION_TTL_S = 8 * 3600  # one working day


class AccountError(ValueError):
    """Bad account input; the message names the field, never a password."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    jurisdictions: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    disabled: bool = False
    created_at: str = ""
    password_hash: str = field(default="", repr=False)

    def scope(self, registry: Registry | None = None) -> Scope:
        reg = registry if registry is not None else default_registry()
        units = {s.id: s.jurisdiction for s in reg.stations}
        return scope_for(
            self.name, self.role, self.jurisdictions, self.stations, station_jurisdiction=units
        )


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)


class UserStore:
    """The accounts file; every method re-reads it, so CLI changes reach a running dashboard."""

    def __init__(self, auth_dir: Path, registry: Registry | None = None) -> None:
        self.auth_dir = Path(auth_dir)
        self.path = self.auth_dir / "users.json"
        self.registry = registry

    @classmethod
    def for_data_dir(cls, data_dir: Path, registry: Registry | None = None) -> UserStore:
        return cls(Path(data_dir) / "auth", registry)

    # ---- reading ---------------------------------------------------------------------------
    def _load(self) -> dict[str, User]:
        out = {}
        for name, d in _read_json(self.path).items():
            if isinstance(d, dict):
                out[name] = User(
                    name=name,
                    role=str(d.get("role", "")),
                    jurisdictions=tuple(d.get("jurisdictions", ())),
                    stations=tuple(d.get("stations", ())),
                    disabled=bool(d.get("disabled", False)),
                    created_at=str(d.get("created_at", "")),
                    password_hash=str(d.get("password_hash", "")),
                )
        return out

    def get(self, name: str) -> User | None:
        return self._load().get(name)

    def users(self) -> list[User]:
        return sorted(self._load().values(), key=lambda u: u.name)

    def has_admin(self) -> bool:
        return any(u.role == "admin" and not u.disabled for u in self._load().values())

    # ---- writing ---------------------------------------------------------------------------
    def _save(self, users: Mapping[str, User]) -> None:
        data = {}
        for name, u in users.items():
            d = asdict(u)
            d.pop("name")
            d["jurisdictions"] = list(u.jurisdictions)
            d["stations"] = list(u.stations)
            data[name] = d
        _write_private(self.path, data)

    def add(
        self,
        name: str,
        role: str,
        password: str,
        jurisdictions: tuple[str, ...] = (),
        stations: tuple[str, ...] = (),
    ) -> User:
        if not NAME_RE.match(name):
            raise AccountError("name: 2-64 letters, digits or . _ - @")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        user = User(name, role, tuple(jurisdictions), tuple(stations))
        try:
            user.scope(self.registry)  # validates role, jurisdiction and stations together
        except AccessError as exc:
            raise AccountError(str(exc)) from None
        with _locked(self.path):
            users = self._load()
            if name in users:
                raise AccountError(f"name: {name!r} exists already")
            users[name] = User(
                name,
                role,
                user.jurisdictions,
                user.stations,
                False,
                datetime.now(UTC).isoformat(timespec="seconds"),
                _hasher().hash(password),
            )
            self._save(users)
        return users[name]

    def set_disabled(self, name: str, disabled: bool = True) -> None:
        with _locked(self.path):
            users = self._load()
            if name not in users:
                raise AccountError(f"name: no account {name!r}")
            u = users[name]
            users[name] = User(
                u.name,
                u.role,
                u.jurisdictions,
                u.stations,
                disabled,
                u.created_at,
                u.password_hash,
            )
            self._save(users)

    # ---- checking --------------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> User | None:
        """The enabled user whose password this is, else None (same work for unknown names)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        ph = _hasher()
        user = self._load().get(name)
        target = user.password_hash if user and user.password_hash else _DUMMY_HASH()
        try:
            ph.verify(target, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled or user.role not in ROLES:
            return None
        return user


_dummy: list[str] = []


def _DUMMY_HASH() -> str:
    if not _dummy:
        _dummy.append(_hasher().hash(secrets.token_urlsafe(16)))
    return _dummy[0]


def ensure_first_admin(store: UserStore, env: Mapping[str, str] | None = None) -> str | None:
    """Create the first administrator when no enabled one exists: name ``EMW_ADMIN_USER``
    (default ``admin``), password ``EMW_ADMIN_PASSWORD`` or a random one. Returns the random
    password (to be printed once) or None."""
    env = os.environ if env is None else env
    if store.has_admin():
        return None
    name = env.get("EMW_ADMIN_USER") or "admin"
    given = env.get("EMW_ADMIN_PASSWORD") or ""
    password = given or secrets.token_urlsafe(12)
    if store.get(name) is not None:  # a disabled or demoted "admin": do not touch it
        return None
    store.add(name, "admin", password)
    return None if given else password


# ---------------------------------------------------------------------------------- sessions


def session_key(auth_dir: Path) -> bytes:
    """The HMAC key of session tokens (generated once, 0600)."""
    path = Path(auth_dir) / "session.key"
    with _locked(path):
        data = _read_json(path)
        key = data.get("key")
        if not isinstance(key, str):
            key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            _write_private(path, {"key": key})
    return base64.urlsafe_b64decode(key)


def _sig(key: bytes, payload: str) -> str:
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def issue_session(key: bytes, user: str, now: float, ttl_s: float = SESSION_TTL_S) -> str:
    payload = f"v1.{user}.{int(now + ttl_s)}.{secrets.token_urlsafe(8)}"
    return f"{payload}.{_sig(key, payload)}"


@dataclass(frozen=True, slots=True)
class SessionCheck:
    user: User | None
    reason: str  # "ok" | "missing" | "malformed" | "tampered" | "expired" | "unknown_user" | …
    claimed: str = ""  # the user name the token claims (audit only)


def check_session(token: str | None, key: bytes, store: UserStore, now: float) -> SessionCheck:
    if not token:
        return SessionCheck(None, "missing")
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != "v1":
        return SessionCheck(None, "malformed")
    payload = ".".join(parts[:4])
    claimed = parts[1]
    if not hmac.compare_digest(_sig(key, payload), parts[4]):
        return SessionCheck(None, "tampered", claimed[:64])
    try:
        expires = int(parts[2])
    except ValueError:
        return SessionCheck(None, "malformed", claimed[:64])
    if now >= expires:
        return SessionCheck(None, "expired", claimed)
    user = store.get(claimed)
    if user is None:
        return SessionCheck(None, "unknown_user", claimed)
    if user.disabled:
        return SessionCheck(None, "disabled", claimed)
    if user.role not in ROLES:
        return SessionCheck(None, "unknown_role", claimed)
    return SessionCheck(user, "ok", claimed)


# ---------------------------------------------------------------------------- rate limiting


class LoginLimiter:
    """Refuses a login key (user name, client address) after ``max_failures`` failures within
    ``window_s`` seconds, until the window has passed. Thread-safe; in memory."""

    def __init__(
        self, max_failures: int = 5, window_s: float = 300.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            for k in keys:
                recent = [t for t in self._fails.get(k, ()) if now - t < self.window_s]
                self._fails[k] = recent
                if len(recent) >= self.max_failures:
                    return True
        return False

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for k in keys:
                self._fails.setdefault(k, []).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)


def json_safe(user: User) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "jurisdictions": list(user.jurisdictions),
        "stations": list(user.stations),
        "disabled": user.disabled,
        "created_at": user.created_at,
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
