"""Scope in one place: every named query takes the caller's scope and refuses without one; data of
another jurisdiction or station cannot be reached through a query, a page, a URL parameter or
the navigation; logins, refusals and tampered or expired sessions land in the audit trail."""

from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.exceedance import Exceedance, fire
from core.ruleset import default_ruleset
from dashboards.app import APP_FILE, PAGES_DIR, build_navigation
from streams.warehouse import shared
from streams.warehouse.queries import DOMAIN_MODULES
from streams.warehouse.scope import OutOfScope, ScopeRequired
from streams.warehouse.sink import BatchingSink

pytestmark = pytest.mark.component
PAGES = sorted(p for p in PAGES_DIR.glob("*.py") if not p.name.startswith("_"))
NOW = datetime.now(UTC)
QP_SUBJECT = "沪QP9999X|yellow"  # only ever stored under qingpu
WJ_SUBJECT = "苏EWJ777X|yellow"


# queries of the schema (which tables exist), not of data: no scope to apply
SCHEMA_PROBES = {"report.tables_present", "report.case_tables_present"}


def named_queries() -> list[tuple[str, Any]]:
    """Every public function of every module in streams/warehouse/queries (new ones included)."""
    import pkgutil

    import streams.warehouse.queries as pkg

    names = {m.name for m in pkgutil.iter_modules(pkg.__path__)} | set(DOMAIN_MODULES)
    out = []
    for mod_name in sorted(names):
        mod = importlib.import_module(f"streams.warehouse.queries.{mod_name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if fn.__module__ != mod.__name__ or name.startswith("_"):
                continue
            if next(iter(inspect.signature(fn).parameters), "") != "client":
                continue  # a helper, not a query (e.g. report.jurisdictions_of)
            if f"{mod_name}.{name}" in SCHEMA_PROBES:
                continue
            out.append((f"{mod_name}.{name}", fn))
    return out


@pytest.mark.parametrize("name_fn", named_queries(), ids=lambda nf: nf[0])
def test_every_named_query_takes_a_scope_and_refuses_without_one(name_fn) -> None:
    name, fn = name_fn
    sig = inspect.signature(fn)
    assert next(iter(sig.parameters)) == "client" and "scope" in sig.parameters, (
        f"{name}: a named query takes (client, ..., scope, ...)"
    )
    args: dict[str, Any] = {"client": None, "scope": None}
    for pname, p in sig.parameters.items():  # plausible values, never reached
        if pname in args or p.default is not inspect.Parameter.empty:
            continue
        ann = str(p.annotation)
        if "IsoWeek" in ann:
            from core.isoweek import IsoWeek

            args[pname] = IsoWeek.last_full(NOW)
        elif "datetime" in ann:
            args[pname] = NOW
        elif "date" in ann:
            args[pname] = NOW.date()
        elif pname == "level":
            args[pname] = "zone"
        else:
            args[pname] = ("x",)

    class NoSql:
        def __getattr__(self, _name: str) -> Any:
            def call(*_a: Any, **_k: Any) -> Any:
                raise AssertionError(f"{name} reached the warehouse without a scope")

            return call

    args["client"] = NoSql()
    with pytest.raises((ScopeRequired, PermissionError)):
        fn(**args)


def _exceedances() -> list[Exceedance]:
    rule = default_ruleset().rule("RS-REPEAT")
    out = []
    for subject, jur in ((QP_SUBJECT, "qingpu"), (WJ_SUBJECT, "wujiang")):
        out.append(
            fire(
                rule=rule,
                ts=NOW - timedelta(hours=1),
                source="remote_sensing",
                subject_kind="vehicle",
                subject_id=subject,
                jurisdiction=jur,
                device_id=f"RSD-{jur[:2].upper()}-01",
                measured=2.0,
                limit=1.0,
                unit="count",
            )
        )
    return out


@pytest.fixture
def data(warehouse, accounts):
    sink = BatchingSink(warehouse)
    sink.put(_exceedances())
    assert sink.flush()
    shared.set_reader(warehouse)
    from dashboards.data import refresh

    refresh()  # every query cache (10 s and 60 s)
    yield warehouse
    shared.set_reader(None)


def _audit(client: Any, action: str | None = None) -> pd.DataFrame:
    where = f"WHERE action = '{action}'" if action else ""
    return client.query_df(f"SELECT * FROM audit_log {where} ORDER BY ts")


def test_queries_return_only_the_callers_jurisdiction(data, accounts) -> None:
    from streams.warehouse.queries import platform as q
    from streams.warehouse.queries import rsd

    since, until = NOW - timedelta(days=1), NOW + timedelta(hours=1)
    qp = q.exceedances(data, accounts.scope("officer_qp"), since, until)
    assert set(qp["subject_id"]) == {QP_SUBJECT}
    wj = rsd.recent_exceedances(data, accounts.scope("officer_wj"), since, until)
    assert set(wj["subject_id"]) == {WJ_SUBJECT}
    # asking for the other jurisdiction explicitly changes nothing
    asked = rsd.recent_exceedances(
        data, accounts.scope("officer_wj"), since, until, jurisdictions=("qingpu",)
    )
    assert asked.empty
    both = q.exceedances(data, accounts.scope("joint1"), since, until)
    assert set(both["subject_id"]) == {QP_SUBJECT, WJ_SUBJECT}
    with pytest.raises(OutOfScope):  # a station operator sees vapour only
        q.exceedances(data, accounts.scope("op_qp1"), since, until)
    with pytest.raises(OutOfScope):  # an analyst sees aggregates, not records naming vehicles
        rsd.repeat_offenders(data, accounts.scope("analyst1"), since, until)
    counts = q.exceedance_counts(data, accounts.scope("analyst1"), since, until)
    assert int(counts["n"].sum()) == 2


def _page_text(at: Any) -> str:
    """What a page shows from the warehouse: tables, metrics, expanders (a page may echo the
    plate the caller typed or passed in the URL; that is the caller's input, not data)."""
    parts = []
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [e.label for e in at.expander]
    for df in at.dataframe:
        parts.append(df.value.to_string())
    for t in at.table:
        parts.append(t.value.to_string())
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
@pytest.mark.parametrize("user", ["officer_wj", "op_qp3", "analyst1"])
def test_no_page_shows_another_jurisdictions_data(data, accounts, page: Path, user: str) -> None:
    at = accounts.app(page, user=user)
    at.query_params["jurisdiction"] = "qingpu"  # URL parameters cannot widen the scope
    at.query_params["plate"] = "沪QP9999X"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    text = _page_text(at)
    assert "QP9999X" not in text  # a vehicle of another jurisdiction (analysts: no vehicle at all)
    if user != "analyst1":  # analysts see the whole zone's devices, in aggregate
        assert "RSD-QP-01" not in text


def test_app_without_login_shows_only_the_login_form_and_audits_failures(data, accounts) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP_FILE), default_timeout=60).run()
    assert not at.exception
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert not at.dataframe and not at.metric  # nothing of the platform before a login
    at.text_input[0].input("officer_qp")
    at.text_input[1].input("wrong-password-1")
    at.button[0].click().run()
    assert any("用户名或密码错误" in e.value for e in at.error)
    failed = _audit(data, "login_failed")
    assert list(failed["user"]) == ["officer_qp"] and "wrong-password" not in failed.to_string()


def test_login_is_rate_limited(data, tmp_path) -> None:
    from streams.auth.service import AuthService
    from streams.auth.users import LoginLimiter, UserStore
    from streams.warehouse.audit import Auditor

    UserStore.for_data_dir(tmp_path).add("li", "officer", "right-password-1", ("qingpu",))
    svc = AuthService(tmp_path, Auditor(lambda: data), limiter=LoginLimiter(max_failures=3))
    for _ in range(3):
        assert svc.login("li", "nope-nope-nope").reason == "bad_credentials"
    blocked = svc.login("li", "right-password-1")  # even the right password, for a while
    assert blocked.reason == "rate_limited" and blocked.token is None
    assert len(_audit(data, "login_blocked")) == 1
    assert len(_audit(data, "login_failed")) == 3


def test_tampered_expired_and_disabled_sessions_are_refused_and_audited(data, tmp_path) -> None:
    from streams.auth.service import AuthService
    from streams.auth.users import UserStore
    from streams.warehouse.audit import Auditor

    store = UserStore.for_data_dir(tmp_path)
    store.add("li", "officer", "right-password-1", ("qingpu",))
    store.add("wu", "officer", "right-password-2", ("wujiang",))
    clock = [1_000_000.0]
    svc = AuthService(tmp_path, Auditor(lambda: data), clock=lambda: clock[0], ttl_s=60)
    tok = svc.login("li", "right-password-1").token
    assert svc.session(tok).jurisdictions == ("qingpu",)
    forged = tok.replace(".li.", ".wu.")  # claim another user with the same signature
    assert svc.session(forged) is None
    assert svc.session(tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")) is None
    assert svc.session("v1.li.9999999999.x") is None
    clock[0] += 61
    assert svc.session(tok) is None  # expired
    clock[0] -= 61
    store.set_disabled("li")
    assert svc.session(tok) is None  # disabled: the open session ends at once
    reasons = list(_audit(data, "session_refused")["outcome"])
    assert reasons == ["tampered", "tampered", "malformed", "expired", "disabled"]


def test_navigation_follows_the_role(accounts) -> None:
    def groups(user: str) -> dict[str, int]:
        nav = build_navigation(accounts.scope(user))
        return {g: len(pages) for g, pages in nav.items()}

    vapour_pages = len([p for p in PAGES if p.stem.startswith("vapor")])
    op = groups("op_qp1")
    assert len(op) == 1 and sum(op.values()) == vapour_pages  # its own domain only
    assert len(groups("admin1")) == len(groups("joint1")) + 1  # the administration group
    assert sum(groups("officer_qp").values()) > vapour_pages

    from dashboards.i18n import _  # group names are shown in the user's language

    assert set(groups("op_qp1")) == {_("Vapour recovery")}
    assert _("Administration") in groups("admin1") and _("Administration") not in groups("joint1")
    assert _("Remote OBD") in groups("officer_qp") and _("Remote OBD") in groups("analyst1")


def test_audit_page_is_for_administrators_only(data, accounts) -> None:
    page = PAGES_DIR / "admin_audit.py"
    accounts.service.login("officer_qp", "wrong-password-2")
    admin = accounts.app(page, user="admin1").run()
    assert not admin.exception
    assert "officer_qp" in admin.dataframe[0].value["用户"].tolist()
    joint = accounts.app(page, user="joint1").run()
    assert not joint.exception and not joint.dataframe
    assert any("权限" in w.value for w in joint.warning)
    denied = _audit(data, "denied")
    assert "joint1" in set(denied["user"]) and "audit.recent" in set(denied["what"])
