"""Device credentials: HJ 212 data-unit passwords, RSD intake tokens, OBD terminal identities.

A credential is never kept in plain text. A stored value is one of

- ``sha256:<salt hex>:<digest hex>``: SHA-256 over ``salt || secret`` (``digest()`` makes one);
- ``env:<VARIABLE>``: the secret is the value of that environment variable (for deployments that
  inject secrets; compared in constant time, never logged).

Where a device's credential comes from, first match wins:

1. the store file ``<data_dir>/auth/devices.json`` written by ``emwatch devices set-secret``
   (so a rotation reaches a running gateway within ``recheck_s`` seconds, without a restart);
2. the registry (``password`` of stations, depots and sensors, ``token`` of RSD sites,
   ``terminal_id`` of OBD vehicles), which may only hold the two forms above.

Device ids are registry ids: the station/depot/sensor id, the RSD site id, the VIN.
``verify`` remembers the secrets it accepted (per device, until the next reload), so the hot path
costs one dictionary look-up per packet. Demo credentials for the bundled simulators are generated
at first run (``demo_secrets``) and kept, readable by the owner only, in ``auth/demo-secrets.json``.

Known limit: a 6-digit HJ 212 password has little entropy; its digest only keeps it out of the
repository and the logs, it does not make a leaked store safe. Rotate after a leak.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets as _secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import ConfigError

SHA256 = "sha256:"
ENV = "env:"
STORE_NAME = "devices.json"
DEMO_NAME = "demo-secrets.json"
MAX_SECRET_LEN = 256


def digest(secret: str, *, salt: bytes | None = None) -> str:
    """The ``sha256:`` form of ``secret`` with a fresh random salt (or the given one)."""
    if not secret or len(secret) > MAX_SECRET_LEN:
        raise ValueError(f"a secret of 1 to {MAX_SECRET_LEN} characters")
    salt = _secrets.token_bytes(16) if salt is None else salt
    h = hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()
    return f"{SHA256}{salt.hex()}:{h}"


def is_stored_form(value: str) -> bool:
    """True for a value allowed in a committed file: a ``sha256:`` digest or an ``env:`` reference."""
    if value.startswith(ENV):
        return bool(value[len(ENV) :]) and value[len(ENV) :].replace("_", "A").isalnum()
    if value.startswith(SHA256):
        salt, _, h = value[len(SHA256) :].partition(":")
        try:
            bytes.fromhex(salt)
            bytes.fromhex(h)
        except ValueError:
            return False
        return len(h) == 64
    return False


def check(stored: str, secret: str, env: Mapping[str, str] | None = None) -> bool:
    """Does ``secret`` match the stored value? Constant-time comparison; False for anything odd."""
    if not secret or len(secret) > MAX_SECRET_LEN:
        return False
    if stored.startswith(ENV):
        expected = (os.environ if env is None else env).get(stored[len(ENV) :], "")
        return bool(expected) and hmac.compare_digest(expected.encode(), secret.encode())
    if stored.startswith(SHA256):
        salt_hex, _, h = stored[len(SHA256) :].partition(":")
        try:
            salt = bytes.fromhex(salt_hex)
        except ValueError:
            return False
        got = hashlib.sha256(salt + secret.encode("utf-8")).hexdigest()
        return hmac.compare_digest(got, h)
    return False


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    device_id: str
    kind: str  # "hj212" | "rsd" | "obd"
    source: str  # "store" | "registry" | "none"
    set_at: str  # ISO time of the last set-secret, "" for registry values


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_private(path: Path, data: object) -> None:
    """Atomic write, mode 0600 (the store and the demo file are readable by the owner only)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        raise ConfigError(str(path), "(file)", "a JSON object written by emwatch") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(root)", "a JSON object")
    return data


class DeviceCredentials:
    """Checks device secrets against the store file and the registry; reloads the store on change.

    ``devices`` maps every known device id to ``(kind, registry value or "")``. With
    ``required=True`` a device with no credential at all is refused; with ``False`` (unit tests
    of a codec, tools) it is let through.
    """

    def __init__(
        self,
        devices: Mapping[str, tuple[str, str]],
        auth_dir: Path | None,
        *,
        required: bool = True,
        env: Mapping[str, str] | None = None,
        recheck_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.devices = dict(devices)
        self.auth_dir = auth_dir
        self.required = required
        self.env = env
        self.recheck_s = recheck_s
        self.clock = clock
        self._store: dict[str, dict[str, str]] = {}
        self._stamp: tuple[int, int] | None = None
        self._next_check = 0.0
        self._accepted: dict[str, str] = {}  # device id -> secret accepted since the last reload
        self.reload()

    # ---- construction --------------------------------------------------------------------
    @classmethod
    def for_registry(
        cls, registry: object, data_dir: Path | None, *, required: bool = True, **kw: object
    ) -> DeviceCredentials:
        devices: dict[str, tuple[str, str]] = {}
        for unit in (
            *getattr(registry, "stations", ()),
            *getattr(registry, "depots", ()),
            *getattr(registry, "sensors", ()),
        ):
            devices[unit.id] = ("hj212", unit.password)
        for site in getattr(registry, "rsd_sites", ()):
            devices[site.id] = ("rsd", site.token)
        for v in getattr(registry, "obd_vehicles", ()):
            devices[v.vin] = ("obd", v.terminal_id)
        auth_dir = None if data_dir is None else Path(data_dir) / "auth"
        return cls(devices, auth_dir, required=required, **kw)  # type: ignore[arg-type]

    @classmethod
    def ephemeral(
        cls,
        registry: object,
        make: Callable[[str, str], str] | None = None,
        *,
        required: bool = True,
    ) -> tuple[DeviceCredentials, dict[str, str]]:
        """Fresh in-memory credentials for every device of ``registry`` and their plain secrets
        (self-contained demos, benchmarks and tests; nothing is written). ``make(kind, id)``
        chooses a secret (default: 6 random digits for HJ 212, a random token otherwise)."""
        base = cls.for_registry(registry, None)
        plain: dict[str, str] = {}
        devices: dict[str, tuple[str, str]] = {}
        for dev, (kind, _) in base.devices.items():
            if make is not None:
                secret = make(kind, dev)
            elif kind == "hj212":
                secret = random_digits()(dev)
            else:
                secret = _secrets.token_urlsafe(18)
            plain[dev] = secret
            devices[dev] = (kind, digest(secret))
        return cls(devices, None, required=required), plain

    @property
    def store_path(self) -> Path | None:
        return None if self.auth_dir is None else self.auth_dir / STORE_NAME

    # ---- reading ---------------------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the store if it changed on disk; True when it did."""
        path = self.store_path
        if path is None:
            return False
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return False
        data = _read_json(path) if stamp is not None else {}
        store: dict[str, dict[str, str]] = {}
        for dev, entry in data.items():
            if isinstance(entry, dict) and is_stored_form(str(entry.get("digest", ""))):
                store[dev] = {k: str(v) for k, v in entry.items()}
        self._store, self._stamp = store, stamp
        self._accepted.clear()
        return True

    def _maybe_reload(self) -> None:
        now = self.clock()
        if now >= self._next_check:
            self._next_check = now + self.recheck_s
            self.reload()

    def stored(self, device_id: str) -> str:
        """The stored form in force for a device ("" when none)."""
        entry = self._store.get(device_id)
        if entry is not None:
            return entry["digest"]
        return self.devices.get(device_id, ("", ""))[1]

    def verify(self, device_id: str, secret: str | None) -> bool:
        """Does ``secret`` authenticate ``device_id``? Unknown device: False."""
        self._maybe_reload()
        if device_id not in self.devices:
            return False
        stored = self.stored(device_id)
        if not stored:
            return not self.required
        if secret is None:
            return False
        if self._accepted.get(device_id) == secret:
            return True
        ok = check(stored, secret, self.env)
        if ok:
            self._accepted[device_id] = secret
        return ok

    def owners(self, secret: str | None, kind: str) -> frozenset[str]:
        """The devices of ``kind`` that ``secret`` authenticates (an RSD token names its site)."""
        if not secret:
            return frozenset()
        return frozenset(
            d for d, (k, _) in self.devices.items() if k == kind and self.verify(d, secret)
        )

    def listing(self) -> list[CredentialInfo]:
        self.reload()
        out = []
        for dev, (kind, reg) in sorted(self.devices.items()):
            entry = self._store.get(dev)
            if entry is not None:
                out.append(CredentialInfo(dev, kind, "store", entry.get("set_at", "")))
            else:
                out.append(CredentialInfo(dev, kind, "registry" if reg else "none", ""))
        return out

    # ---- writing ---------------------------------------------------------------------------
    def set_secret(self, device_id: str, secret: str, now: datetime | None = None) -> None:
        """Store the digest of a new secret for a known device (atomic; running gateways pick it
        up at their next check). Raises KeyError for an unknown device, ValueError for a bad secret."""
        if device_id not in self.devices:
            raise KeyError(device_id)
        value = digest(secret)
        path = self.store_path
        if path is None:
            raise ConfigError("credentials", "data_dir", "a data directory to store credentials in")
        with _locked(path):
            data = _read_json(path)
            data[device_id] = {
                "digest": value,
                "set_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            }
            _write_private(path, data)
        self._next_check = 0.0
        self.reload()

    def demo_secrets(
        self, device_ids: Iterable[str], make: Callable[[str], str] | None = None
    ) -> dict[str, str]:
        """Plain secrets for the bundled simulators: generated once per device (``make(id)`` or a
        random token), their digests put in the store, the plain values kept in
        ``auth/demo-secrets.json`` (0600) so that later runs reuse them. A device whose secret an
        administrator set afterwards keeps that secret (its simulator is then refused)."""
        if self.auth_dir is None:
            raise ConfigError("credentials", "data_dir", "a data directory for demo credentials")
        ids = list(device_ids)
        demo_path = self.auth_dir / DEMO_NAME
        with _locked(self.auth_dir / STORE_NAME):
            demo = {k: str(v) for k, v in _read_json(demo_path).items()}
            store = _read_json(self.auth_dir / STORE_NAME)
            changed = False
            for dev in ids:
                if dev in demo or dev not in self.devices:
                    continue
                secret = make(dev) if make else _secrets.token_urlsafe(18)
                demo[dev] = secret
                store[dev] = {"digest": digest(secret), "set_at": "", "origin": "demo"}
                changed = True
            if changed:
                _write_private(demo_path, demo)
                _write_private(self.auth_dir / STORE_NAME, store)
        self._next_check = 0.0
        self.reload()
        return {d: demo[d] for d in ids if d in demo}


def random_digits(n: int = 6) -> Callable[[str], str]:
    """A ``make`` for ``demo_secrets`` giving HJ 212-style numeric passwords."""
    return lambda _dev: "".join(_secrets.choice("0123456789") for _ in range(n))


def read_demo_secrets(data_dir: Path) -> dict[str, str]:
    """The demo credentials generated at first run in ``data_dir`` (empty when none)."""
    return {k: str(v) for k, v in _read_json(Path(data_dir) / "auth" / DEMO_NAME).items()}
