-- A reviewer's plate correction (the ANPR reading was wrong or missing): kept beside the capture's
-- own plate, which stays as read by the camera.
ALTER TABLE smoke_review {on_cluster} ADD COLUMN IF NOT EXISTS corrected_plate String DEFAULT '' AFTER note;
