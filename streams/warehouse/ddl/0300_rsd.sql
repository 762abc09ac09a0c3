-- Roadside remote sensing: passes with validity reasons and raw reference, operator calibration
-- results, downtime periods, and a per-site daily quality view (remote_sensing/events.py).
CREATE TABLE IF NOT EXISTS rsd_pass (
    event_id String,
    ts DateTime64(3, 'UTC'),
    site_id LowCardinality(String),
    jurisdiction LowCardinality(String),
    record_id String,
    unit_id LowCardinality(String),
    lane Nullable(Int64),
    plate String,
    plate_colour LowCardinality(String),
    plate_type LowCardinality(String),
    plate_confidence Nullable(Float64),
    fuel LowCardinality(String),
    emission_stage LowCardinality(String),
    speed_kmh Nullable(Float64),
    accel_ms2 Nullable(Float64),
    grade Nullable(Float64),
    grade_unit LowCardinality(String),
    ratio_co Nullable(Float64),
    ratio_hc Nullable(Float64),
    ratio_no Nullable(Float64),
    ratio_no2 Nullable(Float64),
    ratio_nh3 Nullable(Float64),
    co2_ref_pct Nullable(Float64),
    plume_co2 Nullable(Float64),
    opacity_pct Nullable(Float64),
    ringelmann Nullable(Float64),
    wind_ms Nullable(Float64),
    temperature_c Nullable(Float64),
    humidity_pct Nullable(Float64),
    precipitation Nullable(Bool),
    headway_s Nullable(Float64),
    device_valid Nullable(Bool),
    device_vsp Nullable(Float64),
    device_co_pct Nullable(Float64),
    device_hc_ppm Nullable(Float64),
    device_no_ppm Nullable(Float64),
    device_limits_json String,
    vsp_kw_t Nullable(Float64),
    co_gpkg Nullable(Float64),
    hc_gpkg Nullable(Float64),
    no_gpkg Nullable(Float64),
    no2_gpkg Nullable(Float64),
    nox_gpkg Nullable(Float64),
    nh3_gpkg Nullable(Float64),
    co_pct Nullable(Float64),
    hc_ppm Nullable(Float64),
    no_ppm Nullable(Float64),
    co2_estimated Bool,
    calibration_ok Nullable(Bool),
    valid Bool,
    invalid_reasons Array(LowCardinality(String)),
    quality_flags Array(LowCardinality(String)),
    images Array(String),
    video String,
    raw_ref String,
    profile LowCardinality(String),
    ruleset_version LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX rsd_pass_plate plate TYPE bloom_filter GRANULARITY 4
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, ts, event_id);

CREATE TABLE IF NOT EXISTS rsd_calibration (
    event_id String,
    ts DateTime64(3, 'UTC'),
    site_id LowCardinality(String),
    jurisdiction LowCardinality(String),
    check_kind LowCardinality(String),
    passed Bool,
    valid_until Date,
    operator String,
    certificate String,
    co_error_pct Nullable(Float64),
    no_error_pct Nullable(Float64),
    hc_error_pct Nullable(Float64),
    note String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYear(ts)
ORDER BY (site_id, ts, event_id);

CREATE TABLE IF NOT EXISTS rsd_downtime (
    event_id String,
    ts DateTime64(3, 'UTC'),
    `end` DateTime64(3, 'UTC'),
    site_id LowCardinality(String),
    jurisdiction LowCardinality(String),
    reason LowCardinality(String),
    note String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYear(ts)
ORDER BY (site_id, ts, event_id);
