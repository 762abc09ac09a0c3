-- Site quality per RSD site and Beijing calendar day, over deduplicated passes (rsd_pass FINAL).
-- Captured = plate read and plume data present; weather_invalid = passes screened out by wind or
-- precipitation. Read by streams/warehouse/queries/rsd.py::site_quality_daily.
CREATE VIEW IF NOT EXISTS rsd_site_day {on_cluster} AS
SELECT
    site_id,
    toDate(ts, 'Asia/Shanghai') AS day,
    any(jurisdiction) AS jurisdiction,
    count() AS passes,
    countIf(valid) AS valid_passes,
    countIf(valid) / count() AS valid_rate,
    countIf(plate != '' AND NOT has(invalid_reasons, 'no_plume_data')) AS captured,
    countIf(plate != '' AND NOT has(invalid_reasons, 'no_plume_data')) / count() AS capture_rate,
    countIf(hasAny(invalid_reasons, ['wind_high', 'precipitation'])) AS weather_invalid,
    countIf(has(invalid_reasons, 'calibration_expired')) AS not_calibrated
FROM rsd_pass FINAL
GROUP BY site_id, day;
