-- A mobile RSD unit's position comes with each record (remote_sensing/events.py: latitude,
-- longitude; WGS-84 degrees), and wins over the site registry; NULL for a fixed unit's records,
-- whose position is the site's. The record's jurisdiction is the pass's `jurisdiction` column.
ALTER TABLE rsd_pass {on_cluster} ADD COLUMN IF NOT EXISTS latitude Nullable(Float64);
ALTER TABLE rsd_pass {on_cluster} ADD COLUMN IF NOT EXISTS longitude Nullable(Float64);
