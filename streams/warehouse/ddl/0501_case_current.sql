-- The current version of every case, kept by a materialized view over case_state so the case list
-- reads one row per case (FINAL) instead of sorting every version. The processor emits a case's
-- versions in order and a replay re-emits the same sequence, so the last row inserted for a case id
-- is its latest version. Lists filter by jurisdiction, status and subject: skip indexes on those.
CREATE TABLE IF NOT EXISTS case_current (
    case_id String,
    version Int64,
    ts DateTime64(3, 'UTC'),
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
    INDEX case_current_subject subject_id TYPE bloom_filter GRANULARITY 4,
    INDEX case_current_vin vin TYPE bloom_filter GRANULARITY 4
) ENGINE = {replacing}
ORDER BY case_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS case_current_mv TO case_current AS
SELECT case_id, version, ts, subject_kind, subject_id, plate, vin, vehicle_class, jurisdiction,
    issue, status, opened_at, severity, rules, sources, jurisdictions, findings, score,
    score_terms_json, suggested_measure, measure, head_hash
FROM case_state;
