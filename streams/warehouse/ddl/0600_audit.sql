-- Audit trail (issue 15): every login and failed login, refused session or request, case action,
-- evidence export, report download and partner export. Append-only: a plain MergeTree that the
-- platform only ever INSERTs into (no Replacing engine, no UPDATE/DELETE anywhere in the code);
-- each row carries the SHA-256 of its own content so an edited row shows. `scope` is the caller's
-- scope as JSON (user, roles, jurisdictions, stations); `what` names the object acted on.
CREATE TABLE IF NOT EXISTS audit_log (
    ts DateTime64(3, 'UTC'),
    user String,
    action LowCardinality(String),
    outcome LowCardinality(String),
    scope String,
    what String,
    client String,
    row_sha256 String
) ENGINE = {merge}
PARTITION BY toYYYYMM(ts)
ORDER BY (ts, user);
