package statuspage

import (
	"strconv"
	"strings"
)

// Cluster is what the header shows of a cluster (storage.url set): the
// instances, their leases and charts, and which one evaluates.
type Cluster struct {
	Leader    string // "" while no instance holds the evaluator lock
	Instances []ClusterInstance
	// Slot sums up the latest slot's fetches ("" before the first).
	Slot string
}

// ClusterInstance is one instance's line.
type ClusterInstance struct {
	Name, State, Role, Claims string
	Leases, Fetched           int
	Self                      bool
}

// ClusterInfo is implemented by an Info that runs in a cluster.
type ClusterInfo interface {
	Cluster() *Cluster
}

func (p *Page) cluster() *Cluster {
	ci, ok := p.info.(ClusterInfo)
	if !ok {
		return nil
	}
	return ci.Cluster()
}

// key is the part of the home page's cache key the cluster changes.
func (c *Cluster) key() string {
	if c == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("|c:" + c.Leader + ":" + c.Slot)
	for _, in := range c.Instances {
		b.WriteString("," + in.Name + in.State + in.Role + strconv.Itoa(in.Leases) + "/" + strconv.Itoa(in.Fetched))
	}
	return b.String()
}
