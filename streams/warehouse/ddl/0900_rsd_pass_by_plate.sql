-- RSD passes by plate: a projection of rsd_pass in (plate, ts) order, so one vehicle's passes are
-- read from a few granules instead of every site's month (the table is ordered by site and time;
-- its plate bloom filter skips nothing, since every granule of a busy site holds many plates).
-- The engine picks the projection by itself for queries that filter on plate without FINAL
-- (queries keep FINAL's result by selecting the keys of the plate's rows from it). Existing parts
-- are rebuilt with the projection here; a merge that drops duplicate rows rebuilds it too.
ALTER TABLE rsd_pass MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE rsd_pass ADD PROJECTION IF NOT EXISTS rsd_pass_by_plate (SELECT * ORDER BY plate, ts);

ALTER TABLE rsd_pass MATERIALIZE PROJECTION rsd_pass_by_plate SETTINGS mutations_sync = 2;
