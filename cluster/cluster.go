package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rankpulse/rankpulse/storage/postgres"
)

// nowMS is the database's clock in Unix milliseconds: leases and
// heartbeats are compared on one clock, whatever the instances' clocks say.
const nowMS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`

// Config is one instance's part in the cluster.
type Config struct {
	// Name identifies the instance (default: hostname-pid).
	Name string
	// Addr is where its status page listens ("" if none).
	Addr    string
	Version string
	// Stores and Countries limit what it claims; empty: any.
	Stores, Countries []string
	// Lease is how long a claim lasts without a heartbeat; Heartbeat how
	// often leases are renewed.
	Lease, Heartbeat time.Duration
}

// Cluster is this instance's membership: its row in instances, its
// heartbeat and the leases it holds.
type Cluster struct {
	db    *postgres.DB
	pool  *pgxpool.Pool
	cfg   Config
	owner string // Name + "/" + a per-process token: claims of a previous run are not ours
	log   *slog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns the membership of this instance; Start registers it.
func New(db *postgres.DB, cfg Config, log *slog.Logger) *Cluster {
	if cfg.Name == "" {
		host, _ := os.Hostname()
		cfg.Name = fmt.Sprintf("%s-%d", strings.ToLower(host), os.Getpid())
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Heartbeat <= 0 || cfg.Heartbeat*2 > cfg.Lease {
		cfg.Heartbeat = cfg.Lease / 3
	}
	b := make([]byte, 4)
	rand.Read(b)
	if log == nil {
		log = slog.Default()
	}
	return &Cluster{db: db, pool: db.Pool(), cfg: cfg, owner: cfg.Name + "/" + hex.EncodeToString(b), log: log.With("component", "cluster", "instance", cfg.Name)}
}

// Name is the instance's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Owner is the owner recorded on this process's claims.
func (c *Cluster) Owner() string { return c.owner }

// Config returns the instance's settings.
func (c *Cluster) Config() Config { return c.cfg }

// MayClaim reports whether this instance may fetch charts of a store and
// country.
func (c *Cluster) MayClaim(store, country string) bool {
	return allowed(c.cfg.Stores, store) && allowed(c.cfg.Countries, country)
}

// MayClaimStore reports whether this instance fetches charts of a store.
func (c *Cluster) MayClaimStore(store string) bool { return allowed(c.cfg.Stores, store) }

func allowed(list []string, v string) bool {
	if len(list) == 0 {
		return true
	}
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Start registers the instance and starts its heartbeat, which renews its
// liveness and the leases of its claims until Stop.
func (c *Cluster) Start(ctx context.Context) error {
	var alive bool
	err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM instances WHERE id = $1 AND NOT stopped AND heartbeat > `+nowMS+` - $2)`,
		c.cfg.Name, c.cfg.Lease.Milliseconds()).Scan(&alive)
	if err != nil {
		return fmt.Errorf("cluster: register %s: %w", c.cfg.Name, err)
	}
	if alive {
		// A restart after a crash looks the same for one lease; two live
		// instances of one name share a row of `cluster status` (their
		// claims stay apart: each process has its own owner token).
		c.log.Warn("an instance of this name had a heartbeat within the lease: if it is not this one restarting, give each instance its own cluster.name")
	}
	_, err = c.pool.Exec(ctx, `
		INSERT INTO instances (id, host, addr, version, stores, countries, started, heartbeat, stopped, lock_pid)
		VALUES ($1, $2, $3, $4, $5, $6, `+nowMS+`, `+nowMS+`, false, 0)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, addr = excluded.addr, version = excluded.version,
			stores = excluded.stores, countries = excluded.countries, started = excluded.started,
			heartbeat = excluded.heartbeat, stopped = false, lock_pid = 0`,
		c.cfg.Name, hostname(), c.cfg.Addr, c.cfg.Version, strings.Join(c.cfg.Stores, ","), strings.Join(c.cfg.Countries, ","))
	if err != nil {
		return fmt.Errorf("cluster: register %s: %w", c.cfg.Name, err)
	}
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.mu.Lock()
	c.cancel, c.done = cancel, make(chan struct{})
	done := c.done
	c.mu.Unlock()
	go func() {
		defer close(done)
		t := time.NewTicker(c.cfg.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				if err := c.beat(hctx); err != nil && hctx.Err() == nil {
					c.log.Warn("heartbeat failed; leases run out unless the next one succeeds", "error", err)
				}
			}
		}
	}()
	return nil
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

// SetAddr records where the instance's status page listens.
func (c *Cluster) SetAddr(ctx context.Context, addr string) error {
	c.cfg.Addr = addr
	_, err := c.pool.Exec(ctx, `UPDATE instances SET addr = $2 WHERE id = $1`, c.cfg.Name, addr)
	return err
}

// beat records that the instance is alive and renews its leases.
func (c *Cluster) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Heartbeat)
	defer cancel()
	if _, err := c.pool.Exec(ctx, `UPDATE instances SET heartbeat = `+nowMS+`, stopped = false WHERE id = $1`, c.cfg.Name); err != nil {
		return err
	}
	_, err := c.pool.Exec(ctx, `UPDATE fetch_tasks SET lease_until = `+nowMS+` + $2 WHERE owner = $1 AND state = 'open'`,
		c.owner, c.cfg.Lease.Milliseconds())
	return err
}

// Stop stops the heartbeat, gives back every claim not fetched and marks
// the instance stopped.
func (c *Cluster) Stop(ctx context.Context) {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel = nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	ctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer stop()
	if _, err := c.pool.Exec(ctx, `UPDATE fetch_tasks SET owner = '', lease_until = 0 WHERE owner = $1 AND state = 'open'`, c.owner); err != nil {
		c.log.Warn("claims not given back; they are free once their leases run out", "error", err)
	}
	if _, err := c.pool.Exec(ctx, `UPDATE instances SET stopped = true, lock_pid = 0, heartbeat = `+nowMS+` WHERE id = $1`, c.cfg.Name); err != nil {
		c.log.Warn("instance not marked stopped", "error", err)
	}
}
