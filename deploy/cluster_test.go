package deploy_test

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/config"
)

// The cluster's compose file: three rankpulse instances built from the
// Dockerfile, each with its own data volume, name and published port,
// reading one config whose storage.url reaches the compose PostgreSQL 15
// with its user, database and password, and whose sink is the compose
// InfluxDB; Grafana wired as in the single-machine file.
func TestClusterComposeWiring(t *testing.T) {
	var c compose
	readYAML(t, "docker-compose.cluster.yml", &c)
	pg, ok := c.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:15") {
		t.Fatalf("postgres service: %+v", pg)
	}
	influxSvc, ok := c.Services["influxdb"]
	if !ok || !strings.HasPrefix(influxSvc.Image, "influxdb:1.8") {
		t.Fatalf("influxdb service: %+v", influxSvc)
	}
	if g, ok := c.Services["grafana"]; !ok || !slices.Contains(g.DependsOn, "influxdb") || !slices.Contains(g.Volumes, "./grafana/provisioning:/etc/grafana/provisioning:ro") {
		t.Fatalf("grafana service: %+v", g)
	}
	var instances []string
	for name := range c.Services {
		if strings.HasPrefix(name, "rankpulse") {
			instances = append(instances, name)
		}
	}
	if len(instances) != 3 {
		t.Fatalf("%d rankpulse instances, want 3", len(instances))
	}
	names, ports, data := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, name := range instances {
		rp := c.Services[name]
		if _, err := os.Stat(filepath.Join(rp.Build["context"], rp.Build["dockerfile"])); err != nil {
			t.Errorf("%s build: %v", name, err)
		}
		if !slices.Contains(rp.DependsOn, "postgres") || !slices.Contains(rp.DependsOn, "influxdb") {
			t.Errorf("%s must depend on postgres and influxdb: %v", name, rp.DependsOn)
		}
		cfgMount := ""
		for _, v := range rp.Volumes {
			parts := strings.Split(v, ":")
			switch {
			case parts[1] == rp.Environment["RANKPULSE_CONFIG"]:
				cfgMount = parts[0]
			case parts[1] == "/data":
				if _, ok := c.Volumes[parts[0]]; !ok || data[parts[0]] {
					t.Errorf("%s data volume %s is undeclared or shared", name, parts[0])
				}
				data[parts[0]] = true
			}
		}
		t.Setenv("RANKPULSE_INSTANCE", rp.Environment["RANKPULSE_INSTANCE"])
		t.Setenv("POSTGRES_PASSWORD", "s3cret")
		cfg, err := config.Load(cfgMount)
		if err != nil {
			t.Fatalf("%s config %q: %v", name, cfgMount, err)
		}
		if !cfg.Clustered() || cfg.Cluster.Name == "" || names[cfg.Cluster.Name] {
			t.Errorf("%s: clustered %v, name %q (names must differ)", name, cfg.Clustered(), cfg.Cluster.Name)
		}
		names[cfg.Cluster.Name] = true
		u, err := url.Parse(cfg.Storage.URL.Value())
		if err != nil {
			t.Fatal(err)
		}
		pw, _ := u.User.Password()
		if _, ok := c.Services[u.Hostname()]; !ok || u.Hostname() != "postgres" || u.User.Username() != pg.Environment["POSTGRES_USER"] ||
			strings.TrimPrefix(u.Path, "/") != pg.Environment["POSTGRES_DB"] || pw != "s3cret" || !strings.Contains(rp.Environment["POSTGRES_PASSWORD"], "POSTGRES_PASSWORD") {
			t.Errorf("%s: storage.url %s does not reach the postgres service as %s/%s", name, u.Redacted(), pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_DB"])
		}
		if iu, _ := url.Parse(cfg.Sinks.InfluxDB.URL); iu == nil || iu.Hostname() != "influxdb" || cfg.Sinks.InfluxDB.Bucket != influxSvc.Environment["INFLUXDB_DB"] {
			t.Errorf("%s writes to %+v", name, cfg.Sinks.InfluxDB)
		}
		_, port, _ := strings.Cut(cfg.Listen, ":")
		if len(rp.Ports) != 1 || !strings.HasSuffix(rp.Ports[0], ":"+port) || ports[rp.Ports[0]] || cfg.DataDir != "/data" {
			t.Errorf("%s listens on %s with data in %s; publishes %v", name, cfg.Listen, cfg.DataDir, rp.Ports)
		}
		ports[rp.Ports[0]] = true
	}
}
