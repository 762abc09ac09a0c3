-- Vapour recovery (fuel_vapor): packets (raw text + hash), fuellings, station readings (pressures),
-- device alarm flags, sensor and depot readings, daily nozzle compliance and station states.
-- Column names are the dataclass field names of fuel_vapor/events.py.
CREATE TABLE IF NOT EXISTS vapor_packet (
    event_id String,
    ts DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    mn String,
    unit_id String,
    unit_kind LowCardinality(String),
    jurisdiction LowCardinality(String),
    st LowCardinality(String),
    cn LowCardinality(String),
    qn String,
    flag Nullable(Int64),
    version Nullable(Int64),
    code_map LowCardinality(String),
    crc_variant LowCardinality(String),
    raw_sha256 String,
    raw String CODEC(ZSTD(3)),
    length Int64,
    records Int64,
    problems Array(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
-- no ts in the key: a packet without DataTime/QN is timed at receipt, and its re-sent copy (same
-- event_id = MN + raw hash) must still collapse into one row
ORDER BY (unit_id, event_id);

CREATE TABLE IF NOT EXISTS vapor_fuelling (
    event_id String,
    ts DateTime64(3, 'UTC'),
    station_id String,
    nozzle Int64,
    jurisdiction LowCardinality(String),
    mn String,
    al Nullable(Float64),
    al_source_unit LowCardinality(String),
    fuel_volume_l Nullable(Float64),
    vapour_volume_l Nullable(Float64),
    fuel_flow_lpm Nullable(Float64),
    vapour_flow_lpm Nullable(Float64),
    liquid_resistance_pa Nullable(Float64),
    code_map LowCardinality(String),
    packet_id String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (station_id, nozzle, ts, event_id);

CREATE TABLE IF NOT EXISTS vapor_station_reading (
    event_id String,
    ts DateTime64(3, 'UTC'),
    station_id String,
    jurisdiction LowCardinality(String),
    mn String,
    tank_pressure_pa Nullable(Float64),
    lr_pressure_pa Nullable(Float64),
    vapour_temp_c Nullable(Float64),
    unloading_conc Nullable(Float64),
    proc_outlet_g_m3 Nullable(Float64),
    al_unattributed Nullable(Float64),
    pv_positive_pa Nullable(Float64),
    pv_negative_pa Nullable(Float64),
    code_map LowCardinality(String),
    packet_id String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (station_id, ts, event_id);

CREATE TABLE IF NOT EXISTS vapor_device_alarm (
    event_id String,
    ts DateTime64(3, 'UTC'),
    station_id String,
    nozzle Int64,
    jurisdiction LowCardinality(String),
    mn String,
    category LowCardinality(String),
    state Int64,
    raw_code String,
    code_map LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (station_id, nozzle, category, ts, event_id);

CREATE TABLE IF NOT EXISTS vapor_sensor_reading (
    event_id String,
    ts DateTime64(3, 'UTC'),
    sensor_id String,
    sensor_kind LowCardinality(String),
    station_id String,
    jurisdiction LowCardinality(String),
    mn String,
    quantity LowCardinality(String),
    value Float64,
    unit LowCardinality(String),
    data_flag Nullable(String),
    packet_id String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (sensor_id, quantity, ts, event_id);

CREATE TABLE IF NOT EXISTS vapor_depot_reading (
    event_id String,
    ts DateTime64(3, 'UTC'),
    depot_id String,
    jurisdiction LowCardinality(String),
    mn String,
    outlet_g_m3 Nullable(Float64),
    efficiency_pct Nullable(Float64),
    truck_pressure_kpa Nullable(Float64),
    packet_id String,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(ts)
ORDER BY (depot_id, ts, event_id);

CREATE TABLE IF NOT EXISTS vapor_nozzle_day (
    event_id String,
    ts DateTime64(3, 'UTC'),
    day Date,
    station_id String,
    nozzle Int64,
    jurisdiction LowCardinality(String),
    fuellings Int64,
    valid Int64,
    under_min Int64,
    slow_dispenser Int64,
    pump_fault Int64,
    slow_vapour Int64,
    in_band Int64,
    above Int64,
    below Int64,
    mean_al Nullable(Float64),
    pass_rate Nullable(Float64),
    pooled_valid Int64,
    state LowCardinality(String),
    streak Int64,
    level LowCardinality(String),
    isd_daily LowCardinality(String),
    isd_weekly LowCardinality(String),
    ruleset_version LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(day)
ORDER BY (station_id, nozzle, day, event_id);

CREATE TABLE IF NOT EXISTS vapor_station_state (
    event_id String,
    ts DateTime64(3, 'UTC'),
    day Date,
    station_id String,
    jurisdiction LowCardinality(String),
    category LowCardinality(String),
    level LowCardinality(String),
    value Nullable(Float64),
    unit LowCardinality(String),
    streak Int64,
    device_state Nullable(Int64),
    ruleset_version LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = {replacing}
PARTITION BY toYYYYMM(day)
ORDER BY (station_id, category, day, event_id);
