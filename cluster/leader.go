package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rankpulse/rankpulse/storage/postgres"
)

// Leadership is the evaluator's advisory lock, held by the session of
// Conn. Writes that must not outlive the lock go through Conn.
type Leadership struct {
	Conn *pgx.Conn
	c    *Cluster
}

// Check verifies the lock's session still answers; an error means the
// lock may be gone and the leadership must end.
func (l *Leadership) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.c.cfg.Heartbeat)
	defer cancel()
	var held bool
	err := l.Conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
		AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1 AND granted)`, int64(postgres.LockEvaluator)).Scan(&held)
	if err != nil {
		return fmt.Errorf("cluster: the evaluator lock's session: %w", err)
	}
	if !held {
		return errors.New("cluster: the evaluator lock is no longer held")
	}
	return nil
}

// Close gives the lock up (closing its session).
func (l *Leadership) Close(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	l.c.pool.Exec(ctx, `UPDATE instances SET lock_pid = 0 WHERE id = $1`, l.c.cfg.Name)
	l.Conn.Close(ctx)
}

// Campaign tries, every poll, to take the evaluator lock until it does or
// ctx ends. Exactly one session holds it; it is released when that
// session ends, however the instance stops (PostgreSQL ends the session of
// a killed instance when its connection drops).
func (c *Cluster) Campaign(ctx context.Context, poll time.Duration) (*Leadership, error) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		if conn == nil {
			var err error
			if conn, err = c.db.Connect(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("cannot reach PostgreSQL to campaign for the evaluator lock; retrying", "error", err)
			}
		}
		if conn != nil {
			var got bool
			var pid int32
			err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1), pg_backend_pid()`, int64(postgres.LockEvaluator)).Scan(&got, &pid)
			switch {
			case err != nil:
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			case got:
				if _, err := c.pool.Exec(ctx, `UPDATE instances SET lock_pid = $2 WHERE id = $1`, c.cfg.Name, pid); err != nil {
					c.log.Warn("could not record the evaluator lock in instances", "error", err)
				}
				l := &Leadership{Conn: conn, c: c}
				conn = nil
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
