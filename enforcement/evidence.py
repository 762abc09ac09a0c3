"""Evidence (pure): a case's manifest with chained SHA-256 hashes, the archive a partner
jurisdiction verifies offline, and the verification itself.

The manifest lists, in order, every accepted log entry of the case (each already chained by
``enforcement.cases.entry_hash``) and every evidence item: the frozen snapshot of each linked record
(exceedances, RSD passes … as JSON) and each evidence file a source hashed (smoke bundles: plate
image, smoke image, clip). Each manifest item carries ``prev`` (the previous item's hash) and
``hash`` = SHA-256(prev + canonical item), so removing, reordering or editing any item — or any
byte of an included file — is named by ``verify``.

Archive (one zip): ``manifest.json``, ``log.jsonl`` (every entry, rejections included), ``state.json``,
``rules.json`` (rule-set version and the texts of the rules that decided), ``证据移送清单.csv`` (the
hand-over list), ``files/…`` (snapshots and the files that could be read). IO (reading files,
querying records) is the caller's: this module gets bytes and returns bytes.

Known limit: a file referenced by a URL or missing on this machine is listed with its declared hash
and ``included: false``; the verifier reports it as not included, not as a mismatch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.ruleset import RuleSet
from core.timeutil import BEIJING
from enforcement.cases import GENESIS, canonical, entry_body, entry_hash

FORMAT = "emwatch-evidence/1"
HANDOVER = "证据移送清单.csv"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _item_hash(prev: str, item: Mapping[str, Any]) -> str:
    body = {k: v for k, v in item.items() if k not in ("hash", "prev")}
    return hashlib.sha256((prev + "\n" + canonical(body)).encode()).hexdigest()


def archive_name(path: str) -> str:
    """A file's name inside the archive: relative from its ``evidence/`` folder when it has one (so
    no machine's absolute paths travel), else the path without leading slashes or ``..``."""
    if "/evidence/" in path:
        return "evidence/" + path.split("/evidence/", 1)[1].replace("..", "_")
    return path.lstrip("/").replace("..", "_")


def split_ref(ref: str) -> tuple[str, str]:
    """``path#sha256=HEX`` → (path, HEX); other references → (ref, "")."""
    path, _, frag = ref.partition("#sha256=")
    return path, frag


@dataclass(frozen=True, slots=True)
class Bundle:
    manifest: dict[str, Any]
    files: dict[str, bytes]  # archive name → bytes


def entry_check(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Mismatches of a case log's own chain (accepted entries in ``seq`` order)."""
    out: list[str] = []
    prev = GENESIS
    expect = 1
    for e in sorted((x for x in entries if x["entry"] != "rejected"), key=lambda x: int(x["seq"])):
        seq = int(e["seq"])
        if seq != expect:
            out.append(f"log: entry {expect} missing (next is {seq})")
            expect = seq
        ts = e["ts"] if isinstance(e["ts"], datetime) else datetime.fromisoformat(str(e["ts"]))
        body = entry_body(
            ts,
            e["entry"],
            e["action"],
            e["actor"],
            e["actor_jurisdiction"],
            e["status_before"],
            e["status_after"],
            e["reason"],
            e["payload_json"],
        )
        if e["prev_hash"] != prev:
            out.append(f"log: entry {seq} does not follow entry {seq - 1} (prev_hash)")
        if entry_hash(e["prev_hash"], e["case_id"], seq, body) != e["hash"]:
            out.append(f"log: entry {seq} ({e['action']}) was altered (hash)")
        prev = e["hash"]
        expect = seq + 1
    return out


def _entry_json(e: Mapping[str, Any]) -> dict[str, Any]:
    d = dict(e)
    if isinstance(d.get("ts"), datetime):
        d["ts"] = d["ts"].isoformat(timespec="milliseconds")
    return {k: (int(v) if k == "seq" else v) for k, v in d.items()}


def build(
    state: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    records: Mapping[str, Mapping[str, Any]],
    read_file: Callable[[str], bytes | None],
    ruleset: RuleSet,
    generated_at: datetime,
) -> Bundle:
    """Assemble a case's evidence bundle.

    ``records``: linked platform records by reference (``exceedance:<id>``, ``rsd.pass:<id>`` …) as
    JSON-able dicts (frozen snapshots); ``read_file(path)``: bytes of a file reference, or None.
    """
    log = [_entry_json(e) for e in entries]
    items: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    for e in sorted((x for x in log if x["entry"] != "rejected"), key=lambda x: x["seq"]):
        items.append(
            {"kind": "entry", "seq": e["seq"], "action": e["action"], "entry_hash": e["hash"]}
        )
    refs: list[str] = []
    for e in log:
        if e["entry"] in ("opened", "evidence"):
            p = json.loads(e["payload_json"] or "{}")
            for r in [f"exceedance:{p.get('exceedance', '')}", *p.get("evidence", [])]:
                if r not in refs and r != "exceedance:":
                    refs.append(r)
        if e["entry"] == "action" and e["action"] in ("check", "reinspect"):
            p = json.loads(e["payload_json"] or "{}")
            for ph in [*p.get("photos", []), *(p.get("retest") or {}).get("photos", [])]:
                r = f"{ph['name']}#sha256={ph['sha256']}"
                if r not in refs:
                    refs.append(r)
    for r in refs:
        if r in records:
            data = canonical(records[r]).encode()
            name = "files/records/" + r.replace(":", "-").replace("/", "_") + ".json"
            files[name] = data
            items.append(
                {"kind": "record", "ref": r, "file": name, "sha256": sha256(data), "included": True}
            )
            continue
        path, declared = split_ref(r)
        if not declared:
            items.append({"kind": "reference", "ref": r, "included": False})
            continue
        data_b = read_file(path)
        name = "files/" + archive_name(path)
        item: dict[str, Any] = {"kind": "file", "ref": r, "file": name, "declared_sha256": declared}
        if data_b is None:
            item.update(included=False)
        else:
            files[name] = data_b
            item.update(included=True, sha256=sha256(data_b))
        items.append(item)
    prev = GENESIS
    for it in items:
        it["prev"] = prev
        it["hash"] = prev = _item_hash(prev, it)
    rule_ids = sorted(
        {
            *state.get("rules", []),
            "ENF-REVIEW",
            "ENF-NOTIFY",
            "ENF-DISCRETION",
            "ENF-MINOR",
            "ENF-FIELD",
        }
        & set(ruleset.ids())
    )
    rules = {
        "ruleset_version": ruleset.version,
        "rules": {rid: ruleset.rule(rid).spec.model_dump() for rid in rule_ids},
    }
    case_id = str(state["case_id"])
    manifest = {
        "format": FORMAT,
        "case_id": case_id,
        "generated_at": generated_at.isoformat(),
        "ruleset_version": ruleset.version,
        "log_head": state.get("head_hash", ""),
        "items": items,
        "head": prev,
    }
    files["log.jsonl"] = "".join(canonical(e) + "\n" for e in log).encode()
    files["state.json"] = canonical(dict(state)).encode()
    files["rules.json"] = canonical(rules).encode()
    files[HANDOVER] = handover(case_id, state, items, generated_at)
    files["manifest.json"] = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    return Bundle(manifest, files)


def handover(
    case_id: str, state: Mapping[str, Any], items: list[dict[str, Any]], at: datetime
) -> bytes:
    """证据移送清单: one row per evidence item, in Chinese, Beijing time."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "案件编号",
            case_id,
            "移送时间（北京时间）",
            at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
        ]
    )
    w.writerow(
        ["当事车辆/站点", state.get("subject_id", ""), "办理单位", state.get("jurisdiction", "")]
    )
    w.writerow(["序号", "证据类型", "证据名称", "SHA-256", "是否随附"])
    kinds = {
        "entry": "执法记录",
        "record": "平台数据快照",
        "file": "电子数据文件",
        "reference": "关联记录",
    }
    for i, it in enumerate(items, 1):
        name = it.get("ref") or f"第 {it.get('seq')} 条：{it.get('action')}"
        digest = it.get("sha256") or it.get("declared_sha256") or it.get("entry_hash", "")
        w.writerow([i, kinds[it["kind"]], name, digest, "是" if it.get("included", True) else "否"])
    return ("\ufeff" + buf.getvalue()).encode()  # BOM: opens in Excel with Chinese intact


def to_zip(bundle: Bundle) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(bundle.files):
            z.writestr(name, bundle.files[name])
    return out.getvalue()


def verify_manifest(
    manifest: Mapping[str, Any], log: list[Mapping[str, Any]], files: Mapping[str, bytes]
) -> list[str]:
    """Every mismatch between a manifest, the log it lists and the files present (empty: intact)."""
    out: list[str] = []
    if manifest.get("format") != FORMAT:
        out.append(f"manifest: unknown format {manifest.get('format')!r}")
    out += entry_check(log)
    by_seq = {int(e["seq"]): e for e in log if e["entry"] != "rejected"}
    prev = GENESIS
    for n, it in enumerate(manifest.get("items", []), 1):
        if it.get("prev") != prev:
            out.append(f"manifest: item {n} does not follow item {n - 1}")
        if _item_hash(it.get("prev", ""), it) != it.get("hash"):
            out.append(f"manifest: item {n} ({it.get('ref') or it.get('action')}) was altered")
        prev = it.get("hash", "")
        if it.get("kind") == "entry":
            e = by_seq.get(int(it["seq"]))
            if e is None:
                out.append(f"log: entry {it['seq']} listed in the manifest is missing")
            elif e["hash"] != it["entry_hash"]:
                out.append(f"log: entry {it['seq']} differs from the manifest")
        elif it.get("included"):
            data = files.get(it["file"])
            if data is None:
                out.append(f"file missing: {it['file']}")
            elif sha256(data) != it["sha256"]:
                out.append(f"file altered: {it['file']} (SHA-256 differs)")
            if it.get("kind") == "file" and it.get("sha256") != it.get("declared_sha256"):
                out.append(f"file differs from the hash its source recorded: {it['file']}")
    if prev != manifest.get("head"):
        out.append("manifest: head hash does not match the last item (items removed?)")
    listed = {e_seq for e_seq in by_seq}
    in_manifest = {int(it["seq"]) for it in manifest.get("items", []) if it.get("kind") == "entry"}
    for seq in sorted(listed - in_manifest):
        out.append(f"log: entry {seq} is not in the manifest")
    return out


def verify_zip(data: bytes) -> list[str]:
    """Verify an archive offline; raises ValueError when it is not an evidence archive at all."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a zip archive: {exc}") from None
    names = set(z.namelist())
    if "manifest.json" not in names or "log.jsonl" not in names:
        raise ValueError("not an evidence archive (manifest.json and log.jsonl expected)")
    try:
        manifest = json.loads(z.read("manifest.json"))
        log = [json.loads(line) for line in z.read("log.jsonl").decode().splitlines() if line]
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"manifest or log unreadable: {exc}"]
    files = {n: z.read(n) for n in names if n.startswith("files/")}
    return verify_manifest(manifest, log, files)
