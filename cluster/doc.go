// Package cluster runs several rankpulse instances as one, on the
// PostgreSQL store of storage/postgres (`storage: {url: postgres://…}`).
//
//	    instance a             instance b             instance c
//	(appstore, us gb …)     (any store, any cc)    (googleplay only)
//	 scrapers ─ claims       scrapers ─ claims      scrapers ─ claims
//	       │  ▲                   │  ▲                   │  ▲
//	save + │  │ FOR UPDATE        │  │                   │  │
//	 done  ▼  │ SKIP LOCKED       ▼  │                   ▼  │
//	┌─────────────────────────── PostgreSQL ───────────────────────────┐
//	│ fetch_tasks (slot × chart: open → done | expired, lease, owner)  │
//	│ snapshots · apps · charts · alerts · outbox · instances          │
//	│ advisory lock "evaluator" ── held by one session ────────────┐   │
//	└──────────────────────────────────────────────────────────────┼───┘
//	                                                               │
//	                     the lock holder (any instance): evaluates each
//	                     slot over every country, writes the slot to
//	                     InfluxDB, delivers the webhooks
//
// # Work shared by claiming
//
// Every instance runs the same jobs on the same schedules (the slot of a
// run is the schedule's fire time, so instances agree on it). When a slot
// fires, each instance seeds the slot's fetches as rows of fetch_tasks —
// one per chart, whichever jobs list it, so a chart is fetched once per
// slot — with INSERT … ON CONFLICT DO NOTHING: the first seed wins, the
// others are no-ops. Instances then claim small batches of open tasks
// (UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)), ordered by country so
// that one batch shares the App Store lookups of one storefront, and limited
// to cluster.stores and cluster.countries. A claim is a lease: the owner
// (instance id and a per-process token) and a deadline on the database's
// clock. Each instance fetches its batch at its own per-store rate (the
// scrapers pace per store), and a heartbeat renews the leases of what it
// has in flight. A fetched chart is saved and its task marked done in one
// transaction; the first read to finish completes the task, and a late
// read of the same chart (its fetcher lost its lease and another fetched
// it too) is kept or dropped by the store's save rules (the fuller read of
// a slot wins), so a retry is idempotent. An instance stopped gracefully
// gives its unfetched claims back at once; one that dies loses them when
// its leases run out, and the others — which keep claiming until the
// slot's tasks are all done — fetch them within the slot. Tasks still
// open when the slot ends (the job's next slot, or cluster.evaluate_after)
// are expired, not fetched late.
//
// # One evaluator
//
// Every instance campaigns for a session-level advisory lock on a
// connection of its own. The holder evaluates: it rebuilds the alert
// engine from the store (the engine's checkpoint and the numbered
// evaluations after it, or the evaluated slots of the engine's horizon),
// then evaluates each store's part of each slot once no task of it is open
// or the slot has ended, in slot order per store (a slow store does not
// hold back the other's alerts; what the engine judges across charts is
// within a store). The engine sees every country of the
// slot, whoever fetched them, so multi_country_surge and removed work
// across instances. The slot's alerts, their outbox rows, its evaluated
// flags and the expiry of its leftover tasks are written in one
// transaction on the lock's own connection: an instance that lost the lock
// (its session ended) cannot commit. A new holder replays the same stored
// history, re-evaluates what was not committed and, the alert ids being
// stable, stores no alert twice. Only the holder runs the webhook
// dispatcher.
//
// # Sinks: once per chart
//
// The evaluator writes each snapshot it evaluates to the sinks, with the
// alerts it raised, before it commits the evaluation: a slot committed as
// evaluated is in InfluxDB (or in the evaluator's spool), and a slot whose
// commit did not happen is written again by the next evaluator — the same
// snapshots from the store, so the same points with the same tags at the
// same times, which InfluxDB overwrites rather than adds. Fetchers never
// write to the sinks, so a chart read twice after a lost lease is written
// once, as the store kept it.
package cluster
