-- Black-smoke capture (smoke_capture/events.py): graded passes with their evidence bundle (file
-- names and SHA-256 per file, same order), reviewers' decisions, and the review queue.
CREATE TABLE IF NOT EXISTS smoke_capture (
    event_id String,
    ts DateTime64(3, 'UTC'),
    camera_id LowCardinality(String),
    site_id LowCardinality(String),
    jurisdiction LowCardinality(String),
    lane Int64,
    track_id Int64,
    first_ts DateTime64(3, 'UTC'),
    last_ts DateTime64(3, 'UTC'),
    plate String,
    plate_colour LowCardinality(String),
    plate_type LowCardinality(String),
    plate_source LowCardinality(String),
    vehicle_class LowCardinality(String),
    grade Float64,
    grade_confidence Float64,
    opacity Float64,
    frames Int64,
    detector_confidence Float64,
    grader_method LowCardinality(String),
    quality_flags Array(String),
    model_version LowCardinality(String),
    calibration_status LowCardinality(String),
    evidence_uri String,
    evidence_files Array(String),
    evidence_sha256 Array(String),
    clip_seconds Float64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (camera_id, ts, event_id);

CREATE TABLE IF NOT EXISTS smoke_review (
    event_id String,
    ts DateTime64(3, 'UTC'),
    capture_id String,
    camera_id LowCardinality(String),
    jurisdiction LowCardinality(String),
    plate String,
    reviewer LowCardinality(String),
    decision LowCardinality(String),
    reason LowCardinality(String),
    confirmed_grade Nullable(Float64),
    note String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (capture_id, ts, event_id);

-- Captures waiting for a human: BS-SCREEN fired for them and no reviewer has decided yet.
-- NEV suspicion (BS-NEV) and calibration state are shown so the reviewer can dismiss quickly.
CREATE VIEW IF NOT EXISTS smoke_review_queue AS
SELECT
    c.event_id AS capture_id,
    c.ts AS ts,
    c.camera_id AS camera_id,
    c.site_id AS site_id,
    c.jurisdiction AS jurisdiction,
    c.lane AS lane,
    c.plate AS plate,
    c.plate_colour AS plate_colour,
    c.grade AS grade,
    c.grade_confidence AS grade_confidence,
    c.quality_flags AS quality_flags,
    c.calibration_status AS calibration_status,
    c.model_version AS model_version,
    c.evidence_uri AS evidence_uri,
    c.evidence_files AS evidence_files,
    c.evidence_sha256 AS evidence_sha256,
    c.clip_seconds AS clip_seconds,
    c.event_id IN (
        SELECT JSONExtractString(detail_json, 'capture_id') FROM exceedance FINAL
        WHERE source = 'smoke_capture' AND rule_id = 'BS-NEV'
    ) AS nev_suspect
FROM smoke_capture AS c FINAL
WHERE c.event_id IN (
        SELECT JSONExtractString(detail_json, 'capture_id') FROM exceedance FINAL
        WHERE source = 'smoke_capture' AND rule_id = 'BS-SCREEN'
    )
    AND c.event_id NOT IN (SELECT capture_id FROM smoke_review FINAL);
