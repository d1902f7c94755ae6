package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/storage/postgres"
)

// Task is one claimed fetch: a chart of a slot.
type Task struct {
	Slot time.Time
	scrapers.Request
	Attempts int
}

// Seed inserts a job's fetches of a slot as open tasks, unless they are
// there already (another instance seeded the slot, or another job lists
// the chart: then the deeper depth is kept while the task is open).
// expires is when the slot ends: its tasks are not claimed after it.
func (c *Cluster) Seed(ctx context.Context, job string, slot, expires time.Time, reqs []scrapers.Request) error {
	if len(reqs) == 0 {
		return nil
	}
	n := len(reqs)
	stores, countries, charts, cats := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	depths := make([]int32, n)
	for i, r := range reqs {
		stores[i], countries[i], charts[i], cats[i], depths[i] = r.Store, r.Country, r.Chart, r.Category, int32(r.Depth)
	}
	_, err := c.pool.Exec(ctx, `
		INSERT INTO fetch_tasks (slot, store, country, chart, category, depth, job, expires)
		SELECT $1, s, cc, ch, cat, d, $7, $8 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) AS u(s, cc, ch, cat, d)
		ORDER BY s, cc, ch, cat
		ON CONFLICT (slot, store, country, chart, category) DO UPDATE SET depth = GREATEST(fetch_tasks.depth, excluded.depth)
			WHERE fetch_tasks.state = 'open' AND fetch_tasks.depth < excluded.depth`,
		slot.Unix(), stores, countries, charts, cats, depths, job, expires.Unix())
	if err != nil {
		return fmt.Errorf("cluster: seed the slot %s of %s: %w", slot.Format(time.RFC3339), job, err)
	}
	return nil
}

// Claim leases up to n open, unleased tasks of a store at a slot that this
// instance may fetch, the same country's together.
func (c *Cluster) Claim(ctx context.Context, store string, slot time.Time, n int) ([]Task, error) {
	if !allowed(c.cfg.Stores, store) {
		return nil, nil
	}
	var countries []string
	if len(c.cfg.Countries) > 0 {
		countries = c.cfg.Countries
	}
	rows, err := c.pool.Query(ctx, `
		UPDATE fetch_tasks t SET owner = $1, lease_until = `+nowMS+` + $2, attempts = t.attempts + 1
		FROM (SELECT slot, store, country, chart, category FROM fetch_tasks
			WHERE state = 'open' AND store = $3 AND slot = $4 AND lease_until < `+nowMS+`
				AND expires > extract(epoch from clock_timestamp())
				AND ($5::text[] IS NULL OR country = ANY($5))
			ORDER BY country, chart, category LIMIT $6
			FOR UPDATE SKIP LOCKED) c
		WHERE t.slot = c.slot AND t.store = c.store AND t.country = c.country AND t.chart = c.chart AND t.category = c.category
		RETURNING t.country, t.chart, t.category, t.depth, t.attempts`,
		c.owner, c.cfg.Lease.Milliseconds(), store, slot.Unix(), countries, n)
	if err != nil {
		return nil, fmt.Errorf("cluster: claim %s fetches: %w", store, err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		t := Task{Slot: slot}
		t.Store = store
		if err := rows.Scan(&t.Country, &t.Chart, &t.Category, &t.Depth, &t.Attempts); err != nil {
			return nil, fmt.Errorf("cluster: claim %s fetches: %w", store, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Complete saves a fetched chart and marks its task done, in one
// transaction. The first read to finish completes the task; a later read
// of the same chart (after a lost lease) is saved by the store's rules and
// changes nothing else. done reports whether this read completed it.
func (c *Cluster) Complete(ctx context.Context, s *chart.Snapshot) (done bool, err error) {
	err = c.db.Transact(ctx, func(tx *postgres.Tx) error {
		if err := tx.SaveSnapshot(ctx, s); err != nil {
			return err
		}
		tag, err := tx.PgTx().Exec(ctx, `
			UPDATE fetch_tasks SET state = 'done', done_by = $1, done_at = `+nowMS+`, owner = '', lease_until = 0
			WHERE slot = $2 AND store = $3 AND country = $4 AND chart = $5 AND category = $6 AND state = 'open'`,
			c.cfg.Name, s.Time.Unix(), s.Store, s.Country, s.Chart, s.Category)
		done = tag.RowsAffected() == 1
		return err
	})
	return done, err
}

// Release gives back claims this instance will not fetch (it is
// stopping): others may claim them at once.
func (c *Cluster) Release(ctx context.Context, slot time.Time, reqs []scrapers.Request) error {
	for _, r := range reqs {
		if _, err := c.pool.Exec(ctx, `UPDATE fetch_tasks SET owner = '', lease_until = 0
			WHERE slot = $1 AND store = $2 AND country = $3 AND chart = $4 AND category = $5 AND owner = $6 AND state = 'open'`,
			slot.Unix(), r.Store, r.Country, r.Chart, r.Category, c.owner); err != nil {
			return fmt.Errorf("cluster: give back %s: %w", r.Key, err)
		}
	}
	return nil
}

// Remaining counts a slot's open tasks of a store that this instance may
// claim and that are not expired, and says when the soonest lease of them
// runs out (zero if one is claimable now).
func (c *Cluster) Remaining(ctx context.Context, store string, slot time.Time) (open int, nextFree time.Time, err error) {
	var countries []string
	if len(c.cfg.Countries) > 0 {
		countries = c.cfg.Countries
	}
	var minLease *int64
	var now int64
	err = c.pool.QueryRow(ctx, `
		SELECT count(*), min(lease_until), `+nowMS+` FROM fetch_tasks
		WHERE state = 'open' AND store = $1 AND slot = $2 AND expires > extract(epoch from clock_timestamp())
			AND ($3::text[] IS NULL OR country = ANY($3))`, store, slot.Unix(), countries).Scan(&open, &minLease, &now)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("cluster: %s fetches left: %w", store, err)
	}
	if minLease != nil && *minLease > now {
		nextFree = time.Now().Add(time.Duration(*minLease-now) * time.Millisecond)
	}
	return open, nextFree, nil
}

// SlotState is what the evaluator needs to know of a slot's fetches.
type SlotState struct {
	Open    int // not yet fetched and not expired
	Expired int // its time ran out unfetched (or not yet marked so)
	Done    int
}

// ReadySlot counts a slot's tasks of a store by state: the store's part
// of the slot may be evaluated when none is still open within its time. A
// slot with no tasks (stored outside the cluster's sweeps) is ready.
func ReadySlot(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, slot time.Time, store string) (SlotState, error) {
	var st SlotState
	err := q.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE state = 'open' AND expires > extract(epoch from clock_timestamp())),
			count(*) FILTER (WHERE state = 'expired' OR (state = 'open' AND expires <= extract(epoch from clock_timestamp()))),
			count(*) FILTER (WHERE state = 'done')
		FROM fetch_tasks WHERE slot = $1 AND store = $2`, slot.Unix(), store).Scan(&st.Open, &st.Expired, &st.Done)
	if err != nil {
		return st, fmt.Errorf("cluster: state of the slot %s: %w", slot.Format(time.RFC3339), err)
	}
	return st, nil
}

// ExpireSlot marks a slot's tasks of a store still open as expired, in
// the evaluation's transaction: they are not fetched after their slot was
// evaluated.
func ExpireSlot(ctx context.Context, tx pgx.Tx, slot time.Time, store string) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE fetch_tasks SET state = 'expired', owner = '', lease_until = 0 WHERE slot = $1 AND store = $2 AND state = 'open'`, slot.Unix(), store)
	if err != nil {
		return 0, fmt.Errorf("cluster: expire the slot %s: %w", slot.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// SlotsToEvaluate lists, oldest first, the slots holding snapshots the
// alert engine has not evaluated or fetches still open.
func SlotsToEvaluate(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]time.Time, error) {
	rows, err := q.Query(ctx, `SELECT slot FROM snapshots WHERE NOT evaluated UNION SELECT slot FROM fetch_tasks WHERE state = 'open' ORDER BY slot`)
	if err != nil {
		return nil, fmt.Errorf("cluster: slots to evaluate: %w", err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("cluster: slots to evaluate: %w", err)
		}
		out = append(out, time.Unix(s, 0).UTC())
	}
	return out, rows.Err()
}
