-- Remote OBD (HJ 1239 / GB 17691 Annex Q): frames, 1 Hz samples, OBD information snapshots,
-- vehicle status (session facts) and quarantined frames of unregistered VINs.
-- Columns = obd_gateway.events field names; ReplacingMergeTree on event_id so re-sent and
-- back-filled records are stored once (read with FINAL).
CREATE TABLE IF NOT EXISTS obd_frame (
    event_id String,
    ts DateTime64(3, 'UTC'),
    vin String,
    received_at DateTime64(3, 'UTC'),
    command Int64,
    header_variant LowCardinality(String),
    layout LowCardinality(String),
    flag Int64,
    encryption Int64,
    data_length Int64,
    frame_sha256 String,
    decode_status LowCardinality(String),
    signature LowCardinality(String),
    backfilled Bool,
    n_samples Int64,
    n_infos Int64,
    jurisdiction LowCardinality(String),
    fleet LowCardinality(String),
    peer String,
    detail String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (vin, ts, event_id);

CREATE TABLE IF NOT EXISTS obd_sample (
    event_id String,
    ts DateTime64(3, 'UTC'),
    vin String,
    jurisdiction LowCardinality(String),
    fleet LowCardinality(String),
    vehicle_class LowCardinality(String),
    received_at DateTime64(3, 'UTC'),
    backfilled Bool,
    time_inferred Bool,
    signature LowCardinality(String),
    frame_id String,
    speed_kmh Nullable(Float64),
    baro_kpa Nullable(Float64),
    torque_pct Nullable(Float64),
    friction_pct Nullable(Float64),
    rpm Nullable(Float64),
    fuel_lph Nullable(Float64),
    nox_up_ppm Nullable(Float64),
    nox_down_ppm Nullable(Float64),
    reagent_pct Nullable(Float64),
    air_kgh Nullable(Float64),
    scr_in_c Nullable(Float64),
    scr_out_c Nullable(Float64),
    dpf_dp_kpa Nullable(Float64),
    coolant_c Nullable(Float64),
    fuel_level_pct Nullable(Float64),
    fix_valid Bool,
    lon Nullable(Float64),
    lat Nullable(Float64),
    odometer_km Nullable(Float64),
    quality_flags Array(String),
    raw_hex String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (vin, ts, event_id);

CREATE TABLE IF NOT EXISTS obd_info (
    event_id String,
    ts DateTime64(3, 'UTC'),
    vin String,
    jurisdiction LowCardinality(String),
    fleet LowCardinality(String),
    received_at DateTime64(3, 'UTC'),
    backfilled Bool,
    frame_id String,
    obd_protocol Int64,
    mil_on Nullable(Bool),
    diag_support Int64,
    diag_ready Int64,
    obd_vin String,
    calibration_id String,
    cvn String,
    iupr Array(Int64),
    dtc_count Nullable(Int64),
    dtcs Array(String),
    raw_hex String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (vin, ts, event_id);

CREATE TABLE IF NOT EXISTS obd_status (
    event_id String,
    ts DateTime64(3, 'UTC'),
    vin String,
    jurisdiction LowCardinality(String),
    fleet LowCardinality(String),
    status LowCardinality(String),
    received_at DateTime64(3, 'UTC'),
    login_serial Nullable(Int64),
    iccid String,
    clock_offset_s Nullable(Float64),
    peer String,
    detail_json String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (vin, ts, event_id);

CREATE TABLE IF NOT EXISTS obd_quarantine (
    event_id String,
    ts DateTime64(3, 'UTC'),
    vin String,
    reason LowCardinality(String),
    command Int64,
    peer String,
    frame_sha256 String,
    raw_hex String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (vin, ts, event_id);
