-- Partner exports (traffic-police referrals, credit-platform serious-violation list): who exported
-- what, when, how many rows, and the hash of the file handed over. Append-only; read by the
-- access-control audit page and by streams/warehouse/queries/report.py::export_log.
CREATE TABLE IF NOT EXISTS export_log (
    export_id String,
    ts DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    fmt LowCardinality(String),
    user String,
    jurisdictions Array(LowCardinality(String)),
    rows UInt64,
    file_name String,
    sha256 String,
    params_json String
) ENGINE = {merge}
PARTITION BY toYYYYMM(ts)
ORDER BY (kind, ts, export_id);
