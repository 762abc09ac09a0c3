-- Enforcement (enforcement/events.py): findings resolved to one subject across sources, case
-- commands, the append-only case log (hash-chained), case states (one row per version; the latest
-- is the case), and plate↔VIN links supplied by sources.
CREATE TABLE IF NOT EXISTS case_finding (
    event_id String,
    ts DateTime64(3, 'UTC'),
    finding LowCardinality(String),
    subject_kind LowCardinality(String),
    subject_id String,
    plate String,
    plate_colour LowCardinality(String),
    vin String,
    vehicle_class LowCardinality(String),
    source LowCardinality(String),
    source_event_id String,
    rule_id LowCardinality(String),
    ruleset_version LowCardinality(String),
    severity LowCardinality(String),
    jurisdiction LowCardinality(String),
    device_id String,
    measured Nullable(Float64),
    `limit` Nullable(Float64),
    unit LowCardinality(String),
    pollutant LowCardinality(String),
    provisional Bool,
    evidence Array(String),
    quality_flags Array(String),
    detail_json String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (subject_kind, subject_id, ts, event_id);

CREATE TABLE IF NOT EXISTS case_command (
    event_id String,
    ts DateTime64(3, 'UTC'),
    case_id String,
    subject_key String,
    action LowCardinality(String),
    actor String,
    actor_jurisdiction LowCardinality(String),
    based_on_version Int64,
    reason String,
    payload_json String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (case_id, ts, event_id);

CREATE TABLE IF NOT EXISTS case_entry (
    event_id String,
    ts DateTime64(3, 'UTC'),
    case_id String,
    seq Int64,
    subject_kind LowCardinality(String),
    subject_id String,
    jurisdiction LowCardinality(String),
    entry LowCardinality(String),
    action LowCardinality(String),
    actor String,
    actor_jurisdiction LowCardinality(String),
    status_before LowCardinality(String),
    status_after LowCardinality(String),
    reason String,
    payload_json String,
    request_id String,
    prev_hash String,
    hash String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
ORDER BY (case_id, seq, event_id);

CREATE TABLE IF NOT EXISTS case_state (
    event_id String,
    ts DateTime64(3, 'UTC'),
    case_id String,
    version Int64,
    subject_kind LowCardinality(String),
    subject_id String,
    plate String,
    vin String,
    vehicle_class LowCardinality(String),
    jurisdiction LowCardinality(String),
    issue LowCardinality(String),
    status LowCardinality(String),
    opened_at DateTime64(3, 'UTC'),
    severity LowCardinality(String),
    rules Array(String),
    sources Array(String),
    jurisdictions Array(String),
    findings Int64,
    score Float64,
    score_terms_json String,
    suggested_measure LowCardinality(String),
    measure LowCardinality(String),
    head_hash String,
    state_json String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
ORDER BY (case_id, version, event_id);

CREATE TABLE IF NOT EXISTS vehicle_link (
    event_id String,
    ts DateTime64(3, 'UTC'),
    plate String,
    vin String,
    source LowCardinality(String),
    source_event_id String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
ORDER BY (plate, vin, event_id);
