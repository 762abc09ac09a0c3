-- The latest version of every case, by version: the same light columns as case_current, in a
-- ReplacingMergeTree versioned by `version`, so FINAL keeps the highest version of each case
-- whatever order its versions were stored in (case_current keeps the last one inserted, which is
-- the highest only while versions arrive in order). Case lists filter and sort here and read the
-- chosen versions' full rows (state_json) from case_state by its key. Filled from case_state now
-- and by a materialized view from here on.
CREATE TABLE IF NOT EXISTS case_latest (
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
    head_hash String
) ENGINE = {replacing:version}
ORDER BY case_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS case_latest_mv TO case_latest AS
SELECT case_id, version, ts, subject_kind, subject_id, plate, vin, vehicle_class, jurisdiction,
    issue, status, opened_at, severity, rules, sources, jurisdictions, findings, score,
    score_terms_json, suggested_measure, measure, head_hash
FROM case_state;

INSERT INTO case_latest
SELECT case_id, version, ts, subject_kind, subject_id, plate, vin, vehicle_class, jurisdiction,
    issue, status, opened_at, severity, rules, sources, jurisdictions, findings, score,
    score_terms_json, suggested_measure, measure, head_hash
FROM case_state;
