package cluster

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rankpulse/rankpulse/storage/postgres"
)

// Status is the cluster as `rankpulse cluster status`, /readyz, /metrics
// and the status page show it.
type Status struct {
	Now time.Time `json:"now"`
	// Leader is the instance holding the evaluator lock ("" if none).
	Leader    string     `json:"leader"`
	Instances []Instance `json:"instances"`
	// Slots are the latest slots' fetches, newest first.
	Slots []Slot `json:"slots"`
}

// Instance is one instance's row.
type Instance struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	Addr      string    `json:"addr,omitempty"`
	Version   string    `json:"version"`
	Stores    []string  `json:"stores,omitempty"`
	Countries []string  `json:"countries,omitempty"`
	Started   time.Time `json:"started"`
	Heartbeat time.Time `json:"heartbeat"`
	// Alive: a heartbeat within the lease, and not stopped.
	Alive   bool `json:"alive"`
	Stopped bool `json:"stopped"`
	Leader  bool `json:"leader"`
	// Leases are the fetches it holds now; Fetched the charts it fetched
	// in the slots listed.
	Leases  int `json:"leases"`
	Fetched int `json:"fetched"`
}

// State is "alive", "stopped" or "dead".
func (in Instance) State() string {
	switch {
	case in.Stopped:
		return "stopped"
	case !in.Alive:
		return "dead"
	}
	return "alive"
}

// Role is "evaluator" for the holder of the evaluator lock, else "fetcher".
func (in Instance) Role() string {
	if in.Leader {
		return "evaluator"
	}
	return "fetcher"
}

// Slot is one slot's fetches.
type Slot struct {
	Slot    time.Time `json:"slot"`
	Open    int       `json:"open"`   // unclaimed, not expired
	Leased  int       `json:"leased"` // claimed, lease running
	Done    int       `json:"done"`
	Expired int       `json:"expired"`
	// ByInstance counts the charts each instance fetched.
	ByInstance map[string]int `json:"by_instance"`
}

// Total is the slot's tasks.
func (s Slot) Total() int { return s.Open + s.Leased + s.Done + s.Expired }

// ReadStatus reads the cluster's state: its instances (alive: a heartbeat
// within lease), the lock holder and the last few slots.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool, lease time.Duration, slots int) (Status, error) {
	var st Status
	var dbNow int64
	var leaderPID *int32
	err := pool.QueryRow(ctx, `SELECT `+nowMS+`, (SELECT pid FROM pg_locks WHERE locktype = 'advisory'
		AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1 AND granted LIMIT 1)`,
		int64(postgres.LockEvaluator)).Scan(&dbNow, &leaderPID)
	if err != nil {
		return st, fmt.Errorf("cluster: status: %w", err)
	}
	st.Now = time.UnixMilli(dbNow).UTC()
	rows, err := pool.Query(ctx, `
		SELECT i.id, i.host, i.addr, i.version, i.stores, i.countries, i.started, i.heartbeat, i.stopped, i.lock_pid,
			(SELECT count(*) FROM fetch_tasks t WHERE t.state = 'open' AND t.owner LIKE i.id || '/%' AND t.lease_until > $1)
		FROM instances i ORDER BY i.id`, dbNow)
	if err != nil {
		return st, fmt.Errorf("cluster: status: %w", err)
	}
	for rows.Next() {
		var in Instance
		var stores, countries string
		var started, beat int64
		var pid int32
		if err := rows.Scan(&in.Name, &in.Host, &in.Addr, &in.Version, &stores, &countries, &started, &beat, &in.Stopped, &pid, &in.Leases); err != nil {
			rows.Close()
			return st, fmt.Errorf("cluster: status: %w", err)
		}
		in.Stores, in.Countries = split(stores), split(countries)
		in.Started, in.Heartbeat = time.UnixMilli(started).UTC(), time.UnixMilli(beat).UTC()
		in.Alive = !in.Stopped && dbNow-beat < lease.Milliseconds()
		in.Leader = leaderPID != nil && pid != 0 && pid == *leaderPID
		if in.Leader {
			st.Leader = in.Name
		}
		st.Instances = append(st.Instances, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("cluster: status: %w", err)
	}
	if st.Slots, err = readSlots(ctx, pool, dbNow, slots); err != nil {
		return st, err
	}
	fetched := map[string]int{}
	for _, s := range st.Slots {
		for name, n := range s.ByInstance {
			fetched[name] += n
		}
	}
	for i := range st.Instances {
		st.Instances[i].Fetched = fetched[st.Instances[i].Name]
	}
	return st, nil
}

func readSlots(ctx context.Context, pool *pgxpool.Pool, dbNow int64, n int) ([]Slot, error) {
	rows, err := pool.Query(ctx, `
		WITH recent AS (SELECT DISTINCT slot FROM fetch_tasks ORDER BY slot DESC LIMIT $2)
		SELECT t.slot, t.done_by,
			count(*) FILTER (WHERE t.state = 'open' AND t.lease_until <= $1 AND t.expires * 1000 > $1),
			count(*) FILTER (WHERE t.state = 'open' AND t.lease_until > $1),
			count(*) FILTER (WHERE t.state = 'done'),
			count(*) FILTER (WHERE t.state = 'expired' OR (t.state = 'open' AND t.lease_until <= $1 AND t.expires * 1000 <= $1))
		FROM fetch_tasks t JOIN recent r ON r.slot = t.slot
		GROUP BY t.slot, t.done_by ORDER BY t.slot DESC`, dbNow, n)
	if err != nil {
		return nil, fmt.Errorf("cluster: status of the slots: %w", err)
	}
	defer rows.Close()
	var out []Slot
	for rows.Next() {
		var slot int64
		var by string
		var open, leased, done, expired int
		if err := rows.Scan(&slot, &by, &open, &leased, &done, &expired); err != nil {
			return nil, fmt.Errorf("cluster: status of the slots: %w", err)
		}
		t := time.Unix(slot, 0).UTC()
		if len(out) == 0 || !out[len(out)-1].Slot.Equal(t) {
			out = append(out, Slot{Slot: t, ByInstance: map[string]int{}})
		}
		s := &out[len(out)-1]
		s.Open += open
		s.Leased += leased
		s.Done += done
		s.Expired += expired
		if by != "" {
			s.ByInstance[by] += done
		}
	}
	return out, rows.Err()
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// Alive counts the live instances.
func (s Status) Alive() int {
	n := 0
	for _, in := range s.Instances {
		if in.Alive {
			n++
		}
	}
	return n
}

// WriteText prints the status as `rankpulse cluster status` shows it.
func (s Status) WriteText(w io.Writer) error {
	leader := s.Leader
	if leader == "" {
		leader = "none (no instance holds the evaluator lock: alerts wait until one does)"
	}
	fmt.Fprintf(w, "cluster at %s: %d instances alive of %d known; evaluator: %s\n\n", s.Now.Format(time.RFC3339), s.Alive(), len(s.Instances), leader)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tSTATE\tROLE\tLEASES\tFETCHED\tCLAIMS\tHEARTBEAT\tADDR\tVERSION")
	for _, in := range s.Instances {
		claims := "any"
		if len(in.Stores) > 0 || len(in.Countries) > 0 {
			claims = strings.Join(append(orAny(in.Stores), orAny(in.Countries)...), ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s ago\t%s\t%s\n", in.Name, in.State(), in.Role(), in.Leases, in.Fetched, claims,
			s.Now.Sub(in.Heartbeat).Round(time.Second), dash(in.Addr), dash(in.Version))
	}
	tw.Flush()
	if len(s.Slots) == 0 {
		_, err := fmt.Fprintln(w, "\nno slot seeded yet")
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SLOT\tCHARTS\tDONE\tLEASED\tOPEN\tEXPIRED\tFETCHED BY")
	for _, sl := range s.Slots {
		names := make([]string, 0, len(sl.ByInstance))
		for n := range sl.ByInstance {
			names = append(names, n)
		}
		sort.Strings(names)
		var by []string
		for _, n := range names {
			by = append(by, fmt.Sprintf("%s %d", n, sl.ByInstance[n]))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", sl.Slot.Format(time.RFC3339), sl.Total(), sl.Done, sl.Leased, sl.Open, sl.Expired, dash(strings.Join(by, ", ")))
	}
	return tw.Flush()
}

func orAny(l []string) []string {
	if len(l) == 0 {
		return []string{"*"}
	}
	return l
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
