"""Settings of every deployable, read once from the environment (prefix ``EMW_``) at the entry point.

A bad value stops start-up with one line naming the variable and what was expected
(``load_settings``). Secrets are ``SecretStr`` and masked when printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EMW_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("var"), description="embedded data: warehouse, evidence, spool")
    warehouse_dsn: SecretStr = Field(
        SecretStr(""),
        description="chdb:///abs/path or http(s)://user:pass@host:8123; empty = chdb in data_dir",
    )
    warehouse_database: str = Field("emw", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    warehouse_cluster: str = Field(
        "", description="ON CLUSTER name for replicated DDL; empty = single node"
    )
    warehouse_password: SecretStr | None = None
    bus: Literal["inproc", "kafka"] = "inproc"
    kafka_bootstrap: str = "localhost:9092"
    kafka_client_id: str = "emwatch"
    kafka_topic_prefix: str = Field(
        "", description="prefix of every topic name (shared clusters, tests)"
    )
    kafka_replication_factor: int = Field(1, ge=1)
    worker_web_port: int = Field(6066, ge=1, le=65535, description="Faust worker web port")
    host: str = "127.0.0.1"
    dashboard_port: int = Field(8501, ge=1, le=65535)
    obd_port: int = Field(9100, ge=0, le=65535)
    hj212_port: int = Field(9212, ge=0, le=65535)
    rsd_port: int = Field(8088, ge=0, le=65535)
    simulate: bool = Field(True, description="run the bundled device simulators (demo traffic)")
    sim_scale: float = Field(1.0, gt=0, le=100)
    ruleset_dir: Path | None = None
    registry_dir: Path | None = Field(
        None,
        description="sites and devices; empty = data_dir/registry when it holds *.yaml (what "
        "`emwatch seed` writes), else the shipped registry",
    )
    sink_batch_size: int = Field(50_000, ge=1)
    sink_max_delay_s: float = Field(0.5, gt=0, le=60)
    sink_max_buffered: int = Field(500_000, ge=1)
    metrics_interval_s: float = Field(10.0, gt=0)
    wal_dir: Path | None = Field(
        None, description="embedded write-ahead log directory; empty = data_dir/wal"
    )
    wal_fsync: bool = Field(True, description="fsync the write-ahead log before acknowledging")
    wal_segment_mb: int = Field(16, ge=1, le=1024, description="write-ahead log segment size")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    report_schedule: bool = Field(
        True, description="embedded runner: write last week's reports every Monday"
    )
    auth: Literal["local", "oidc"] = Field(
        "local", description="local accounts (embedded) or OIDC through st.login (production)"
    )
    oidc_metadata_url: str = Field(
        "", description="OIDC discovery URL (…/.well-known/openid-configuration)"
    )
    oidc_client_id: str = "emwatch-dashboards"
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str = Field("", description="http(s)://host:port/oauth2callback")
    oidc_cookie_secret: SecretStr | None = None
    admin_user: str = Field("admin", description="name of the first administrator")
    admin_password: SecretStr | None = Field(
        None, description="first administrator's password (else a random one, printed once)"
    )

    @model_validator(mode="after")
    def _registry_in_data_dir(self) -> Settings:
        """A data directory that carries its registry (a seeded one) is run with it by default."""
        if self.registry_dir is None:
            d = self.data_dir / "registry"
            if d.is_dir() and any(d.glob("*.yaml")):
                object.__setattr__(self, "registry_dir", d)  # frozen: set once, while validating
        return self

    @property
    def resolved_dsn(self) -> str:
        """The DSN to connect with (may hold a password: never print it, use ``masked_dsn``)."""
        dsn = self.warehouse_dsn.get_secret_value()
        if dsn:
            return dsn
        return f"chdb://{(self.data_dir / 'warehouse').resolve()}"

    @property
    def masked_dsn(self) -> str:
        """The DSN with any password replaced by ``***`` (for banners, logs and errors)."""
        return mask_dsn(self.resolved_dsn)

    def ports(self) -> dict[str, int]:
        return {"obd": self.obd_port, "hj212": self.hj212_port, "rsd": self.rsd_port}


def mask_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}{port}"))


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ``ConfigError`` naming the variable on bad input."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        key = "EMW_" + ".".join(str(p) for p in err["loc"]).upper()
        raise ConfigError("environment", key, err["msg"]) from None
