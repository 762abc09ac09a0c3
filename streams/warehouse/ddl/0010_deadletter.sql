-- Dead letters: records that could not be serialised or inserted, isolated one by one so that
-- they never block the others (streams/warehouse/sink.py). `raw` holds the record's bytes as
-- received by the sink (its JSON, with undecodable bytes restored through surrogateescape), or
-- its repr when not even that could be made. One row per dl_id (deterministic over kind, event_id
-- and raw): `emwatch deadletter replay` inserts a newer row with status 'replayed'; read FINAL.
CREATE TABLE IF NOT EXISTS dead_letter (
    dl_id String,
    ts DateTime64(3, 'UTC'),
    stage LowCardinality(String),
    kind LowCardinality(String),
    device_id String,
    event_id String,
    reason String,
    raw String,
    status LowCardinality(String),
    updated_at DateTime64(3, 'UTC')
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY dl_id;
