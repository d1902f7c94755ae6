-- The layout rankpulse wrote at schema_version 1 (commit e32bc5a), before
-- dead messages: the base for the test that opens a file of that version.
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charts (
	id       INTEGER PRIMARY KEY,
	store    TEXT NOT NULL,
	country  TEXT NOT NULL,
	chart    TEXT NOT NULL,
	category TEXT NOT NULL,
	UNIQUE (store, country, chart, category)
);
-- One row per distinct (store, app, name, developer): a rename is a new row.
CREATE TABLE IF NOT EXISTS apps (
	id        INTEGER PRIMARY KEY,
	store     TEXT NOT NULL,
	app_id    TEXT NOT NULL,
	name      TEXT NOT NULL,
	developer TEXT NOT NULL,
	last_seen INTEGER NOT NULL,
	UNIQUE (store, app_id, name, developer)
);
CREATE INDEX IF NOT EXISTS apps_by_app ON apps (store, app_id);
CREATE TABLE IF NOT EXISTS snapshots (
	slot        INTEGER NOT NULL,
	chart_id    INTEGER NOT NULL REFERENCES charts (id),
	source      TEXT NOT NULL,
	complete    INTEGER NOT NULL,
	depth       INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL,
	error       TEXT NOT NULL,
	entries     BLOB NOT NULL,
	-- 0 until the alert engine has evaluated the snapshot (1 for imports:
	-- backfilled history does not alert).
	evaluated   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (slot, chart_id)
);
CREATE INDEX IF NOT EXISTS snapshots_by_chart ON snapshots (chart_id, slot);
CREATE INDEX IF NOT EXISTS snapshots_pending ON snapshots (slot) WHERE evaluated = 0;
CREATE TABLE IF NOT EXISTS alerts (
	id       TEXT NOT NULL,
	revision INTEGER NOT NULL,
	time     INTEGER NOT NULL,
	kind     TEXT NOT NULL,
	severity TEXT NOT NULL,
	store    TEXT NOT NULL,
	country  TEXT NOT NULL,
	app_id   TEXT NOT NULL,
	body     TEXT NOT NULL, -- the alert JSON (SPEC §4)
	stored   INTEGER NOT NULL,
	PRIMARY KEY (id, revision)
);
CREATE INDEX IF NOT EXISTS alerts_by_time ON alerts (time);
-- One row per alert and receiver, written in the transaction that stores the
-- alert; delivered in seq order per receiver.
CREATE TABLE IF NOT EXISTS outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook      TEXT NOT NULL,
	alert_id     TEXT NOT NULL,
	revision     INTEGER NOT NULL,
	batch        INTEGER NOT NULL, -- the evaluation that raised it
	created      INTEGER NOT NULL, -- unix ms
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL, -- unix ms
	state        TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | gave_up
	last_error   TEXT NOT NULL DEFAULT '',
	delivered    INTEGER,
	UNIQUE (webhook, alert_id, revision)
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (webhook, seq) WHERE state = 'pending';
-- Receivers that answered 410 Gone, for the URL (hash) they had then.
CREATE TABLE IF NOT EXISTS webhook_disabled (
	name     TEXT PRIMARY KEY,
	url_hash TEXT NOT NULL,
	reason   TEXT NOT NULL,
	at       INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
