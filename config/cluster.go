package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

// Storage chooses the store (SPEC §2 storage).
type Storage struct {
	// URL, when set, is a PostgreSQL server shared by the instances of a
	// cluster (postgres://user:password@host:5432/db); absent: the
	// embedded SQLite file in data_dir.
	URL Secret `yaml:"url"`
}

// Cluster configures one instance of a cluster (SPEC §2 cluster); it
// applies only with storage.url.
type Cluster struct {
	// Name identifies this instance in `cluster status` (default:
	// hostname-pid). Two live instances must not share a name.
	Name string `yaml:"name"`
	// Stores and Countries limit the fetches this instance claims (egress
	// placement); empty: any.
	Stores    []string `yaml:"stores"`
	Countries []string `yaml:"countries"`
	// Lease is how long a claimed fetch stays this instance's without a
	// heartbeat: an instance that dies loses its claims after this.
	Lease Duration `yaml:"lease"`
	// Heartbeat is how often an instance renews its leases and says it is
	// alive; it must be well under Lease.
	Heartbeat Duration `yaml:"heartbeat"`
	// Batch is how many fetches of a store are claimed at once (0: about
	// a second and a half of the store's rate).
	Batch int `yaml:"batch"`
	// EvaluateAfter bounds how long the evaluator waits for a slot's
	// fetches before evaluating what is in (default: until the job's next
	// slot).
	EvaluateAfter Duration `yaml:"evaluate_after"`
}

// Clustered reports whether the config runs a cluster instance.
func (c *Config) Clustered() bool { return c.Storage.URL != "" }

// DefaultCluster are the cluster defaults.
func DefaultCluster() Cluster {
	return Cluster{Lease: Duration(30 * time.Second), Heartbeat: Duration(5 * time.Second)}
}

func (c *Config) validateCluster(v *validator) {
	if raw := c.Storage.URL.Value(); raw != "" {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			v.add("storage.url", "is not a URL: it does not parse (want postgres://user:password@host:5432/rankpulse)")
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			v.add("storage.url", "must start with postgres:// (the only shared store; leave storage out for the embedded SQLite file)")
		case u.Host == "" && u.Query().Get("host") == "":
			v.add("storage.url", "names no host (want postgres://user:password@host:5432/rankpulse)")
		}
	}
	cl := c.Cluster
	set := cl.Name != "" || len(cl.Stores) > 0 || len(cl.Countries) > 0
	if set && !c.Clustered() {
		v.add("cluster", "applies only to a cluster: set storage.url to the shared PostgreSQL server, or remove cluster")
	}
	if cl.Name != "" && !nameRe.MatchString(cl.Name) {
		v.add("cluster.name", "%q must be lowercase letters, digits, '-', '_' or '.'", cl.Name)
	}
	for i, s := range cl.Stores {
		if !slices.Contains(chart.Stores, s) {
			v.add(fmt.Sprintf("cluster.stores[%d]", i), "unknown store %q (want %s)", s, strings.Join(chart.Stores, " or "))
		}
	}
	for i, cc := range cl.Countries {
		if !slices.Contains(chart.CountryCodes(), cc) {
			msg := "unknown country %q"
			if s := SuggestCountry(cc); s != "" {
				v.add(fmt.Sprintf("cluster.countries[%d]", i), msg+" (did you mean %q?)", cc, s)
				continue
			}
			v.add(fmt.Sprintf("cluster.countries[%d]", i), msg, cc)
		}
	}
	if cl.Lease.D() < time.Second {
		v.add("cluster.lease", "must be at least 1s (got %s)", cl.Lease)
	}
	if cl.Heartbeat.D() <= 0 || cl.Heartbeat.D()*2 > cl.Lease.D() {
		v.add("cluster.heartbeat", "must be positive and at most half of cluster.lease (got %s with a lease of %s)", cl.Heartbeat, cl.Lease)
	}
	if cl.Batch < 0 || cl.Batch > 1000 {
		v.add("cluster.batch", "must be between 0 (automatic) and 1000 (got %d)", cl.Batch)
	}
	if cl.EvaluateAfter.D() < 0 {
		v.add("cluster.evaluate_after", "must not be negative (got %s)", cl.EvaluateAfter)
	}
}
