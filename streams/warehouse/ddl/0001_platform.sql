-- Foundation tables: the exceedance contract, platform metrics snapshots, ingest counters.
CREATE TABLE IF NOT EXISTS exceedance (
    event_id String,
    ts DateTime64(3, 'UTC'),
    source LowCardinality(String),
    subject_kind LowCardinality(String),
    subject_id String,
    jurisdiction LowCardinality(String),
    device_id String,
    rule_id LowCardinality(String),
    ruleset_version LowCardinality(String),
    severity LowCardinality(String),
    measured Nullable(Float64),
    limit Nullable(Float64),
    unit LowCardinality(String),
    evidence Array(String),
    quality_flags Array(String),
    provisional Bool,
    detail_json String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (source, subject_kind, subject_id, ts, event_id);

CREATE TABLE IF NOT EXISTS platform_metric (
    ts DateTime64(3, 'UTC'),
    component LowCardinality(String),
    name LowCardinality(String),
    labels String,
    value Float64
) ENGINE = {merge}
PARTITION BY toYYYYMMDD(ts)
ORDER BY (component, name, labels, ts)
TTL toDateTime(ts) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS ingest_log (
    ts DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    jurisdiction LowCardinality(String),
    rows UInt64
) ENGINE = {merge}
PARTITION BY toYYYYMM(ts)
ORDER BY (kind, jurisdiction, ts);
