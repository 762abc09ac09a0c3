"""Vendor field mappings: how one RSD vendor's record turns into the platform's canonical record.

Responsible for the one place where foreign record shapes come in (STYLE §5). A profile is a YAML
file in this folder (``national``: pinyin fields with vendor A plate-colour codes; ``vendor_b``: the
same fields with vendor B codes; ``conox``: the column names of the real UK data in tests/data/rsd).
It names, per canonical field, the vendor field, a unit scale (e.g. ppm per % CO2 → mol/mol), code
tables (plate colour, fuel, result flags), the time format and zone, and where images are.

Two paths share the same configuration: :meth:`Profile.canonical` / :meth:`Profile.canonical_batch`
for records (the intake; a bad value raises ``ValidationError`` naming the vendor field) and
:meth:`Profile.frame` for an Arrow table of a whole file (``rsd evaluate``; unparseable numbers
become NaN, unknown codes ``unknown``; columns converted when read, text once per distinct value).

Known limits: only flat records (one level of keys); image fields are references (URLs or file
names), never image bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import yaml

from core.errors import ConfigError, ValidationError
from core.ids import Plate
from remote_sensing.arrowcols import to_float64, to_indices
from remote_sensing.records import RecordColumns

if TYPE_CHECKING:  # pandas only in the intake's batch path: ~0.5 s of import for ``rsd evaluate``
    import pandas as pd

PROFILE_DIR = Path(__file__).parent

FLOAT_FIELDS = (
    "speed_kmh",
    "accel_ms2",
    "grade",
    "plate_confidence",
    "ratio_co",
    "ratio_hc",
    "ratio_no",
    "ratio_no2",
    "ratio_nh3",
    "co2_ref_pct",
    "plume_co2",
    "device_co_pct",
    "device_hc_ppm",
    "device_no_ppm",
    "opacity_pct",
    "ringelmann",
    "limit_co_pct",
    "limit_hc_ppm",
    "limit_no_ppm",
    "limit_opacity_pct",
    "limit_ringelmann",
    "device_vsp",
    "wind_ms",
    "temperature_c",
    "humidity_pct",
    "headway_s",
    "latitude",  # a mobile unit's position, WGS-84 degrees (wins over the site registry)
    "longitude",
)
TEXT_FIELDS = (
    "record_id",
    "site_id",
    "unit_id",
    "plate",
    "plate_type",
    "emission_stage",
    "device_invalid_reason",
    "jurisdiction",  # a mobile unit's jurisdiction as written (qingpu / 青浦区 / 310118)
)
CODED_FIELDS = ("plate_colour", "fuel", "device_result", "precipitation", "device_valid")
_UNREAD = frozenset({"未识别", "无牌", "无", "-", "UNKNOWN", "车牌"})
KNOWN_FIELDS = (*FLOAT_FIELDS, *TEXT_FIELDS, *CODED_FIELDS, "lane", "ts")


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and not v.strip())


def _text(v: Any) -> str:
    if _missing(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    s = str(v).strip()
    if s.endswith(".0") and s[:-2].lstrip("-").isdigit():
        s = s[:-2]
    return s


def _text_series(s: pd.Series) -> pd.Series:
    """Vectorised ``_text``: integral floats lose their ``.0``, missing becomes ``""``."""
    import pandas as pd

    if pd.api.types.is_float_dtype(s.dtype):
        with np.errstate(invalid="ignore"):
            integral = s.notna() & (s % 1 == 0) & (s.abs() < 2**53)
        out = s.astype(object).map(repr)
        out[integral] = s[integral].astype("int64").astype(str)
        out[s.isna()] = ""
        return out
    if pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(str)
    return s.fillna("").astype(str).str.strip()


_NESTED = frozenset({list, dict})
_UNKNOWN = "\x00unknown code"  # a code that no table holds (marks a lookup that missed)


def _present(s: pd.Series) -> np.ndarray:
    """Values that are there: not None/NaN and not blank text."""
    import pandas as pd

    a = s.to_numpy(dtype=object)
    out = s.notna().to_numpy(dtype=bool, copy=True)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        out &= np.array([not (isinstance(x, str) and not x.strip()) for x in a], dtype=bool)
    return out


@functools.lru_cache(maxsize=1 << 16)  # the zone's vehicles pass again and again
def _plate(text: str, colour: str) -> tuple[str, str] | None:
    """(number, colour) of a plate as read, or None when it does not parse."""
    try:
        p = Plate.parse(text, colour)
    except ValidationError:
        return None
    return p.number, p.colour.value


def _ref(v: Any) -> str:
    if isinstance(v, str):
        return v.strip()
    return "" if _missing(v) else _text(v)


def _image_tuples(rc: RecordColumns, fields: Sequence[str], m: int) -> list[tuple[str, ...]]:
    """Per row, the non-empty image references of ``fields`` (column-wise, in field order)."""
    cols: list[list[str]] = []
    for f in fields:
        if f not in rc:
            continue
        if rc.kind(f) == "str":
            cols.append(["" if x is None else x.strip() for x in rc.values[f]])
        else:
            cols.append([x.strip() if isinstance(x, str) else _ref(x) for x in rc.tolist(f)])
    if not cols:
        return [()] * m
    return [tuple(filter(None, row)) for row in zip(*cols, strict=True)]


def _texts_of(rc: RecordColumns, vf: str) -> np.ndarray:
    """A column of a batch as text (object array), as ``_text_series`` reads the column pandas
    would build: text stripped (Arrow's Unicode whitespace, as pandas strips), whole floats
    without ``.0``, missing as ``""``."""
    kind = rc.kind(vf)
    vals = rc.values[vf]
    if kind == "str":
        import pyarrow.compute as pc

        arr = pc.utf8_trim_whitespace(rc.arrow(vf)).fill_null("")
        return np.array(arr.to_pylist(), dtype=object)
    if kind in ("int", "bool"):
        return np.array([str(v) for v in vals], dtype=object)
    if kind == "float":
        a = rc.array(vf)
        out = np.empty(len(a), dtype=object)
        out[:] = [
            "" if x != x else (str(int(x)) if x % 1 == 0 and abs(x) < 2**53 else repr(x))
            for x in a.tolist()
        ]
        return out
    return _text_series(rc.series(vf)).to_numpy(dtype=object, copy=True)


@dataclass(frozen=True, slots=True)
class Batch:
    """Canonical columns of a batch (aligned to ``rows``), errors and content hashes by position."""

    cols: dict[str, Any]
    rows: list[int]
    errors: dict[int, str]
    hashes: dict[int, str]


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    description: str
    timezone: str
    time_format: str
    grade_unit: str  # "percent" | "degree" | "site"
    fields: Mapping[str, str]
    images: tuple[str, ...] = ()
    video: str = ""
    scale: Mapping[str, float] = field(default_factory=dict)
    codes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    device_valid_from: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def vendor(self, canonical_field: str) -> str:
        return self.fields.get(canonical_field, canonical_field)

    # ---------------------------------------------------------------- one record
    def canonical(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The canonical record of one vendor record. Raises ``ValidationError`` naming the vendor
        field for unparseable numbers, unknown codes, missing ids or a bad time."""
        out: dict[str, Any] = {}
        for canon, vf in self.fields.items():
            raw = record.get(vf)
            if canon in FLOAT_FIELDS:
                out[canon] = self._float(vf, raw, canon)
            elif canon in CODED_FIELDS:
                out[canon] = self._code(vf, canon, raw)
            elif canon == "lane":
                f = self._float(vf, raw, canon)
                out[canon] = None if f is None else int(f)
            elif canon == "ts":
                out[canon] = self._time(vf, raw)
            else:
                out[canon] = _text(raw)
        for req in ("record_id", "site_id", "ts"):
            if _missing(out.get(req)):
                raise ValidationError(
                    self.vendor(req), record.get(self.vendor(req)), "a value (required)"
                )
        self._derive(out)
        plate_txt = out.get("plate", "")
        flags: list[str] = []
        if plate_txt and plate_txt not in _UNREAD:
            colour = out.get("plate_colour") or "unknown"
            try:
                p = Plate.parse(plate_txt, colour)
                out["plate"], out["plate_colour"] = p.number, p.colour.value
            except ValidationError:
                out["plate"] = ""
                flags.append("plate_unparsed")
        else:
            out["plate"] = ""
        out.setdefault("plate_colour", "unknown")
        out["images"] = tuple(
            _text(record.get(f)) for f in self.images if not _missing(record.get(f))
        )
        out["video"] = _text(record.get(self.video)) if self.video else ""
        out["flags"] = tuple(flags)
        return out

    # ---------------------------------------------------------------- a batch of records
    def canonical_batch(self, records: Sequence[Any]) -> Batch:
        """Canonical columns of many vendor records at once (the intake's fast path).

        Returns columns aligned to ``rows`` (the input positions of the good records), errors by
        input position and a content hash per good record (independent of key order;
        ``remote_sensing.records``). The records are read once into typed columns; a column of
        mixed kinds is read as pandas reads it. Values the vectorised path cannot read are re-read
        with the single-record methods, so messages are the same as :meth:`canonical`'s.
        """
        errors: dict[int, str] = {}
        pos: list[int] = []
        for i, r in enumerate(records):
            if isinstance(r, dict):
                pos.append(i)
            else:
                errors[i] = f"record {i}: expected an object of fields, got {type(r).__name__}"
        rc = RecordColumns([records[i] for i in pos])
        nested = rc.rows_holding(_NESTED)
        if nested:  # a record with a list or object as a value: rejected, and read without it
            for j in nested:
                r = records[pos[j]]
                name = next(k for k, v in r.items() if isinstance(v, list | dict))
                errors[pos[j]] = str(
                    ValidationError(str(name), r[name], "a single value, not a list or object")
                )
            pos = [p for j, p in enumerate(pos) if j not in nested]
            rc = RecordColumns([records[i] for i in pos])
        recs = rc.recs
        m = len(recs)
        bad = np.zeros(m, dtype=bool)

        def fail(j: int, exc: Exception) -> None:
            if not bad[j]:
                bad[j] = True
                errors[pos[j]] = str(exc)

        cols: dict[str, Any] = {}
        for canon, vf in self.fields.items():
            kind = rc.kind(vf)
            if canon in FLOAT_FIELDS or canon == "lane":
                if kind is None:
                    cols[canon] = np.full(m, np.nan)
                    continue
                arr = self._numbers(rc, vf, canon, fail)
                cols[canon] = arr * self.scale.get(canon, 1.0) if canon != "lane" else arr
            elif canon in CODED_FIELDS:
                if kind is None:
                    cols[canon] = np.full(m, None, dtype=object)
                    continue
                table = self.codes.get(canon)
                vals = _texts_of(rc, vf)
                out = np.empty(m, dtype=object)
                if table is None:
                    out[:] = [None if key == "" else key for key in vals]
                else:
                    get = table.get
                    out[:] = [None if key == "" else get(key, _UNKNOWN) for key in vals]
                    for j in np.flatnonzero(out == _UNKNOWN).tolist():
                        out[j] = None
                        try:
                            self._code(vf, canon, rc.values[vf][j])
                        except ValidationError as exc:
                            fail(j, exc)
                cols[canon] = out
            elif canon == "ts":
                cols[canon] = self._times(vf, rc.tolist(vf) if kind else None, m, fail)
            else:
                cols[canon] = np.full(m, "", dtype=object) if kind is None else _texts_of(rc, vf)
        for req in ("record_id", "site_id"):
            vf = self.vendor(req)
            for j in np.flatnonzero(cols.get(req, np.full(m, "", dtype=object)) == "").tolist():
                fail(j, ValidationError(vf, recs[j].get(vf), "a value (required)"))
        spec = self.device_valid_from
        if spec and "device_valid" not in self.fields and spec["field"] in cols:
            inv = set(spec.get("invalid", ()))
            cols["device_valid"] = np.array(
                [None if x is None else x not in inv for x in cols[spec["field"]]], dtype=object
            )
        plates = cols.get("plate", np.full(m, "", dtype=object))
        colours = cols.get("plate_colour", np.full(m, None, dtype=object))
        flags = np.empty(m, dtype=object)
        flags[:] = [()] * m
        for j in range(m):
            t = plates[j]
            if not t or t in _UNREAD:
                plates[j] = ""
                continue
            got = _plate(t, colours[j] or "unknown")
            if got is None:
                plates[j] = ""
                flags[j] = ("plate_unparsed",)
            else:
                plates[j], colours[j] = got
        cols["plate"] = plates
        cols["plate_colour"] = np.array([c or "unknown" for c in colours], dtype=object)
        cols["flags"] = flags
        cols["images"] = np.empty(m, dtype=object)
        cols["images"][:] = _image_tuples(rc, self.images, m)
        video = rc.values.get(self.video) if self.video else None
        cols["video"] = (
            np.array([_text(v) for v in video], dtype=object)
            if video is not None
            else np.full(m, "", dtype=object)
        )
        keep = ~bad
        good = np.flatnonzero(keep)
        rows = [pos[j] for j in good]
        hashes = dict(zip(rows, rc.content_hashes(good), strict=True)) if good.size else {}
        return Batch({k: v[keep] for k, v in cols.items()}, rows, errors, hashes)

    def _numbers(self, rc: RecordColumns, vf: str, canon: str, fail: Any) -> np.ndarray:
        """A number column of a batch (float64, NaN where missing), unscaled: numbers as sent;
        text (CSV) and mixed columns as ``pd.to_numeric(errors="coerce")`` reads them. A value
        that is there but not a finite number fails its record with :meth:`_float`'s message."""
        if rc.kind(vf) in ("float", "int", "bool"):
            raw = rc.values[vf]
            arr = rc.array(vf).astype(np.float64)  # missing: NaN
            for j in np.flatnonzero(~np.isfinite(arr)).tolist():
                v = raw[j]
                if v is None or v != v:  # missing, or NaN (read as missing)
                    continue
                try:
                    self._float(vf, v, canon)
                except ValidationError as exc:
                    fail(j, exc)
            return arr
        import pandas as pd

        s = rc.series(vf)
        arr = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        present = _present(s)
        for j in np.flatnonzero(present & ~np.isfinite(arr)).tolist():
            try:
                self._float(vf, s.iat[j], canon)
            except ValidationError as exc:
                fail(j, exc)
        return np.where(present, arr, np.nan)

    def _times(self, vf: str, values: list[Any] | None, m: int, fail: Any) -> np.ndarray:
        """Times of a column (values as ``Series.tolist()`` gives them), as :meth:`_time` reads
        each value. Text written exactly as
        ``YYYY-MM-DD HH:MM:SS`` (when that is the profile's format) is read by
        ``datetime.fromisoformat``, which gives what ``strptime`` gives for that shape, in C."""
        out = np.full(m, None, dtype=object)
        if values is None:
            for j in range(m):
                fail(j, ValidationError(vf, None, "a time (required)"))
            return out
        tz = self.tz
        plain = self.time_format == "%Y-%m-%d %H:%M:%S"
        parse = datetime.fromisoformat
        for j, raw in enumerate(values):
            if (
                plain
                and raw.__class__ is str
                and len(raw) == 19
                and raw[10] == " "
                and raw[13] == ":"
                and raw[16] == ":"
            ):
                try:
                    out[j] = parse(raw).replace(tzinfo=tz)
                    continue
                except ValueError:
                    pass
            try:
                out[j] = self._time(vf, raw)
            except ValidationError as exc:
                fail(j, exc)
        return out

    def _float(self, vf: str, raw: Any, canon: str) -> float | None:
        if _missing(raw):
            return None
        try:
            v = float(raw)
        except (TypeError, ValueError):
            raise ValidationError(vf, raw, "a number") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValidationError(vf, raw, "a finite number")
        return v * self.scale.get(canon, 1.0)

    def _code(self, vf: str, canon: str, raw: Any) -> Any:
        table = self.codes.get(canon)
        if _missing(raw):
            return None
        key = _text(raw)
        if table is None:
            return key
        if key in table:
            return table[key]
        raise ValidationError(vf, raw, f"one of the {self.name} codes {', '.join(map(str, table))}")

    def _time(self, vf: str, raw: Any) -> datetime:
        if _missing(raw):
            raise ValidationError(vf, raw, "a time (required)")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            try:
                return datetime.fromtimestamp(float(raw) / 1000.0, tz=self.tz)
            except (ValueError, OverflowError, OSError):
                raise ValidationError(vf, raw, "epoch milliseconds of a real date") from None
        s = str(raw).strip()
        try:
            ts = datetime.strptime(s, self.time_format)
        except ValueError:
            try:
                ts = datetime.fromisoformat(s)
            except ValueError:
                raise ValidationError(
                    vf, raw, f"a time like {self.time_format} or ISO 8601"
                ) from None
        return ts if ts.tzinfo else ts.replace(tzinfo=self.tz)

    def _derive(self, out: dict[str, Any]) -> None:
        spec = self.device_valid_from
        if spec and "device_valid" not in out:
            v = out.get(spec["field"])
            out["device_valid"] = None if v is None else v not in spec.get("invalid", ())

    # ---------------------------------------------------------------- whole file
    def frame(self, data: pa.Table | pd.DataFrame) -> Columns:
        """Canonical columns of a table of vendor records (``rsd evaluate``), as a mapping that
        converts a column when it is first read: the evaluation reads about half of them, and a
        text column the rules never read (record ids) is never converted. Absent vendor columns
        are absent from the result, so gates that need them do not apply."""
        return Columns(self, data if isinstance(data, pa.Table) else _arrow_table(data))


class Columns(Mapping[str, np.ndarray]):
    """Canonical columns of an Arrow table of vendor records, converted on first access.

    Numbers: numeric Arrow columns are cast to float64 (null → NaN); other columns are read like
    ``pd.to_numeric(errors="coerce")``. Text and coded columns are converted once per distinct
    value (dictionary encoding) with the same rules as the intake (``_texts``, code tables,
    ``unknown`` for an unknown code), so 100,000 passes from a few sites, fuels and flags cost a
    few dozen conversions, not 100,000."""

    __slots__ = ("_cache", "_n", "_names", "_profile", "_table")

    def __init__(self, profile: Profile, table: pa.Table) -> None:
        self._profile, self._table, self._n = profile, table, table.num_rows
        present = set(table.column_names)
        names = [c for c, vf in profile.fields.items() if vf in present]
        spec = profile.device_valid_from
        if spec and "device_valid" not in names and spec["field"] in names:
            names.append("device_valid")
        if "fuel" not in names:
            names.append("fuel")
        self._names = dict.fromkeys(names)
        self._cache: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        got = self._cache.get(key)
        if got is None:
            if key not in self._names:
                raise KeyError(key)
            got = self._cache[key] = self._convert(key)
        return got

    def __contains__(self, key: object) -> bool:
        return key in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _convert(self, canon: str) -> np.ndarray:
        prof, n = self._profile, self._n
        if canon == "device_valid":
            spec = prof.device_valid_from
            if "device_valid" in prof.fields:
                coded = self._coded(canon)
                return self._by_value(
                    canon,
                    lambda s: np.array(
                        [x if isinstance(x, bool) else None for x in coded(s)], dtype=object
                    ),
                )
            else:
                bad = set(spec.get("invalid", ()))
                v = np.array(
                    [
                        None if (x is None or x == "unknown") else x not in bad
                        for x in self[spec["field"]]
                    ],
                    dtype=object,
                )
            return np.array([x if isinstance(x, bool) else None for x in v], dtype=object)
        if canon == "fuel" and "fuel" not in prof.fields:
            return np.full(n, "unknown", dtype=object)
        col = self._table.column(prof.fields[canon])
        if canon in FLOAT_FIELDS or canon == "lane":
            t = col.type
            if (
                pa.types.is_floating(t)
                or pa.types.is_integer(t)
                or pa.types.is_boolean(t)
                or pa.types.is_null(t)
            ):
                v = to_float64(col)
            else:
                v = self._by_value(canon, lambda vals: np.array(_numbers(vals), dtype=np.float64))
            return v * prof.scale.get(canon, 1.0)
        if canon in CODED_FIELDS:
            return self._by_value(canon, self._coded(canon))
        if canon == "ts":
            return np.array(col.to_pylist(), dtype=object)
        return self._by_value(canon, lambda vals: np.array(vals, dtype=object))

    def _coded(self, canon: str) -> Callable[[list[str]], np.ndarray]:
        table = self._profile.codes.get(canon)

        def convert(txt: list[str]) -> np.ndarray:
            if table:
                return np.array([table.get(t, "unknown") for t in txt], dtype=object)
            return np.array(txt, dtype=object)

        return convert

    def _by_value(self, canon: str, convert: Callable[[list[Any]], np.ndarray]) -> np.ndarray:
        """``convert`` applied to each distinct value of the column (and to a missing value),
        then spread over the rows. Text and coded conversions receive the values as text
        (``_texts``: the intake's rules); numbers receive them as read."""
        col = self._table.column(self._profile.fields[canon]).combine_chunks()
        as_text = canon not in FLOAT_FIELDS and canon != "lane"
        missing = convert([""] if as_text else [None])
        if pa.types.is_null(col.type):
            return np.repeat(missing, self._n)
        enc = col.dictionary_encode()
        vals = enc.dictionary.to_pylist()
        done = convert(_texts(vals, enc.dictionary.type) if as_text else vals)
        table = np.empty(len(done) + 1, dtype=done.dtype if done.dtype == missing.dtype else object)
        table[:-1], table[-1] = done, missing[0]
        return table[to_indices(enc, len(done))]


def _texts(vals: list[Any], typ: pa.DataType) -> list[str]:
    """Distinct values of an Arrow column as text, as ``_text_series`` reads a column of that
    type: integral floats lose their ``.0``, other floats keep ``repr``, text is stripped, a
    missing value is ``""``."""
    out: list[str] = []
    if pa.types.is_floating(typ):
        for x in vals:
            if x is None or x != x:
                out.append("")
            elif x % 1 == 0 and abs(x) < 2**53:
                out.append(str(int(x)))
            else:
                out.append(repr(x))
    elif pa.types.is_integer(typ) or pa.types.is_boolean(typ):
        out = ["" if x is None else str(x) for x in vals]
    else:
        out = ["" if x is None else str(x).strip() for x in vals]
    return out


def _numbers(vals: list[Any]) -> list[float]:
    """Distinct values of a non-numeric column as numbers, like ``pd.to_numeric(errors="coerce")``:
    what does not read as a number is NaN."""
    out: list[float] = []
    for x in vals:
        if x is None:
            out.append(float("nan"))
            continue
        try:
            out.append(float(x))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return out


def _arrow_table(df: pd.DataFrame) -> pa.Table:
    """A DataFrame as Arrow columns; a column of mixed values (numbers and text) becomes text."""
    arrays = []
    for name in df.columns:
        s = df[name]
        try:
            arrays.append(pa.array(s, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if _missing(v) else str(v) for v in s], pa.string()))
    return pa.table(arrays, names=[str(c) for c in df.columns])


def _load(path: Path) -> Profile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "(syntax)", f"valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(root)", "a mapping")
    for key in ("name", "timezone", "time_format", "fields"):
        if key not in data:
            raise ConfigError(str(path), key, "a value")
    unknown = [k for k in data["fields"] if k not in KNOWN_FIELDS]
    if unknown:
        raise ConfigError(str(path), f"fields.{unknown[0]}", f"one of {', '.join(KNOWN_FIELDS)}")
    if data.get("grade_unit", "site") not in ("percent", "degree", "site"):
        raise ConfigError(str(path), "grade_unit", "percent, degree or site")
    codes = {
        k: {str(code): val for code, val in (v or {}).items()}
        for k, v in (data.get("codes") or {}).items()
    }
    return Profile(
        name=str(data["name"]),
        description=str(data.get("description", "")),
        timezone=str(data["timezone"]),
        time_format=str(data["time_format"]),
        grade_unit=str(data.get("grade_unit", "site")),
        fields={str(k): str(v) for k, v in data["fields"].items()},
        images=tuple(data.get("images") or ()),
        video=str(data.get("video") or ""),
        scale={str(k): float(v) for k, v in (data.get("scale") or {}).items()},
        codes=codes,
        device_valid_from=dict(data.get("device_valid_from") or {}),
    )


@functools.cache
def load_profile(name: str, directory: str | None = None) -> Profile:
    """Load ``<name>.yaml`` from ``directory`` (default: the shipped profiles)."""
    d = Path(directory) if directory else PROFILE_DIR
    path = d / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in d.glob("*.yaml")))
        raise ConfigError(str(path), "(file)", f"a profile among {known}")
    return _load(path)


def profile_names(directory: str | None = None) -> list[str]:
    d = Path(directory) if directory else PROFILE_DIR
    return sorted(p.stem for p in d.glob("*.yaml"))
