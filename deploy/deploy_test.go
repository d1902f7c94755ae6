package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	sdkdashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"go.yaml.in/yaml/v3"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/config"
	"github.com/rankpulse/rankpulse/deploy/grafana/dashgen"
	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/internal/influxtest"
	"github.com/rankpulse/rankpulse/sinks"
	"github.com/rankpulse/rankpulse/sinks/influx"
)

func TestMain(m *testing.M) { influxtest.Main(m) }

// schema is SPEC §5: what the dashboards may refer to.
var schema = map[string]struct{ tags, fields []string }{
	"app_rank":     {[]string{"store", "country", "chart", "category", "app_id", "app_name", "watch"}, []string{"rank"}},
	"chart_scrape": {[]string{"store", "country", "chart", "category", "source"}, []string{"entries", "complete", "duration_ms", "error"}},
	"rank_alert":   {[]string{"kind", "severity", "store", "country", "app_id", "app_name", "watch"}, []string{"from_rank", "to_rank", "summary"}},
}

// query is one query of a dashboard.
type query struct {
	dashboard, where, datasource, text string
}

func dashboards(t *testing.T) map[string]map[string]any {
	t.Helper()
	files, _ := filepath.Glob("grafana/dashboards/*.json")
	if len(files) == 0 {
		t.Fatal("no dashboards")
	}
	out := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = d
	}
	return out
}

func uidOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["uid"].(string)
	return s
}

// queries collects every query of a dashboard: variables, annotations and
// panel targets.
func queries(name string, d map[string]any) []query {
	var out []query
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		v := v.(map[string]any)
		out = append(out, query{name, "variable " + v["name"].(string), uidOf(v["datasource"]), v["query"].(string)})
	}
	for _, a := range d["annotations"].(map[string]any)["list"].([]any) {
		a := a.(map[string]any)
		target, _ := a["target"].(map[string]any)
		text, _ := target["query"].(string)
		out = append(out, query{name, "annotation " + a["name"].(string), uidOf(a["datasource"]), text})
	}
	for _, p := range d["panels"].([]any) {
		p := p.(map[string]any)
		for _, tg := range p["targets"].([]any) {
			tg := tg.(map[string]any)
			out = append(out, query{name, "panel " + p["title"].(string) + " " + tg["refId"].(string), uidOf(tg["datasource"]), tg["query"].(string)})
		}
	}
	return out
}

func TestDashboardFilesAreGenerated(t *testing.T) {
	for name, d := range dashgen.All() {
		want, err := dashgen.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("grafana/dashboards", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("grafana/dashboards/%s differs from its definition: run `go run ./deploy/grafana/dashgen/cmd`", name)
		}
	}
	if files, _ := filepath.Glob("grafana/dashboards/*.json"); len(files) != len(dashgen.All()) {
		t.Errorf("%d dashboard files, %d defined", len(files), len(dashgen.All()))
	}
}

var (
	fromRe    = regexp.MustCompile(`FROM\s+"([^"]+)"`)
	aliasRe   = regexp.MustCompile(`AS\s+"([^"]+)"`)
	quotedRe  = regexp.MustCompile(`"([^"]+)"`)
	withKeyRe = regexp.MustCompile(`WITH KEY = "([^"]+)"`)
	fluxMeas  = regexp.MustCompile(`_measurement == "([^"]+)"`)
	fluxField = regexp.MustCompile(`_field == "([^"]+)"`)
	fluxCol   = regexp.MustCompile(`\br\.([A-Za-z_]+)`)
	fluxTag   = regexp.MustCompile(`tag: "([^"]+)"`)
	fluxCols  = regexp.MustCompile(`columns: \[([^\]]*)\]`)
)

// checkSchema returns the names a query uses that SPEC §5 does not have.
func checkSchema(q query) []string {
	var bad []string
	var meas []string
	known := func(name string, wantTag, wantField bool) bool {
		for _, m := range meas {
			s := schema[m]
			if (wantTag && slices.Contains(s.tags, name)) || (wantField && slices.Contains(s.fields, name)) {
				return true
			}
		}
		return false
	}
	if q.datasource == dashgen.Flux {
		for _, m := range fluxMeas.FindAllStringSubmatch(q.text, -1) {
			meas = append(meas, m[1])
		}
		for _, m := range meas {
			if _, ok := schema[m]; !ok {
				bad = append(bad, "measurement "+m)
			}
		}
		for _, m := range fluxField.FindAllStringSubmatch(q.text, -1) {
			if !known(m[1], false, true) {
				bad = append(bad, "field "+m[1])
			}
		}
		names := fluxCol.FindAllStringSubmatch(q.text, -1)
		names = append(names, fluxTag.FindAllStringSubmatch(q.text, -1)...)
		for _, cols := range fluxCols.FindAllStringSubmatch(q.text, -1) {
			names = append(names, quotedRe.FindAllStringSubmatch(cols[1], -1)...)
		}
		for _, m := range names {
			if !strings.HasPrefix(m[1], "_") && !known(m[1], true, false) {
				bad = append(bad, "tag "+m[1])
			}
		}
		return bad
	}
	for _, m := range fromRe.FindAllStringSubmatch(q.text, -1) {
		if _, ok := schema[m[1]]; !ok {
			bad = append(bad, "measurement "+m[1])
		}
		meas = append(meas, m[1])
	}
	aliases := map[string]bool{}
	for _, m := range aliasRe.FindAllStringSubmatch(q.text, -1) {
		aliases[m[1]] = true
	}
	for _, m := range withKeyRe.FindAllStringSubmatch(q.text, -1) {
		if !known(m[1], true, false) {
			bad = append(bad, "tag "+m[1])
		}
	}
	for _, m := range quotedRe.FindAllStringSubmatch(q.text, -1) {
		name := m[1]
		if _, isMeasurement := schema[name]; isMeasurement || aliases[name] || known(name, true, true) {
			continue
		}
		bad = append(bad, "tag or field "+name)
	}
	return bad
}

func TestDashboardsUseOnlyTheSpecSchema(t *testing.T) {
	n := 0
	for name, d := range dashboards(t) {
		for _, q := range queries(name, d) {
			n++
			if q.datasource != dashgen.InfluxQL && q.datasource != dashgen.Flux {
				t.Errorf("%s %s: unknown datasource %q", name, q.where, q.datasource)
			}
			if bad := checkSchema(q); len(bad) > 0 {
				t.Errorf("%s %s refers to %v, not in SPEC §5", name, q.where, bad)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d queries found", n)
	}
}

// grafanaSchema decodes a dashboard the way the Grafana Foundation SDK's
// strict decoder does: every required field there, every field known, of
// the right type, for the dashboard, its variables and annotations, and
// each panel's options and field config as its plugin (timeseries, table,
// geomap) defines them. Queries are InfluxQL and Flux strings it does not
// read: TestEveryDashboardQueryAgainstInfluxDB runs them.
func grafanaSchema(b []byte) error {
	plugins.RegisterDefaultPlugins()
	var d sdkdashboard.Dashboard
	// v0.0.22 returns its (nil) list of errors as a non-nil error when
	// there is none.
	var errs cog.BuildErrors
	if err := d.UnmarshalJSONStrict(b); err != nil && (!errors.As(err, &errs) || len(errs) > 0) {
		return err
	}
	return d.Validate()
}

func TestDashboardsFollowGrafanasSchema(t *testing.T) {
	for name, d := range dashgen.All() {
		b, err := dashgen.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := grafanaSchema(b); err != nil {
			t.Errorf("%s does not follow Grafana's dashboard schema:\n%v", name, err)
		}
	}
}

// The schema check catches the slips a hand-written dashboard can make.
func TestSchemaCheckCatchesBrokenDashboards(t *testing.T) {
	for _, tt := range []struct {
		what  string
		wreck func(d dashgen.M)
		want  string
	}{
		{"a misspelt dashboard key", func(d dashgen.M) { d["titel"] = "x" }, "unexpected field 'titel'"},
		{"a table without its header option", func(d dashgen.M) { delete(d["panels"].([]dashgen.M)[1]["options"].(dashgen.M), "showHeader") }, "options.showHeader: required"},
		{"a misspelt field-config option", func(d dashgen.M) {
			d["panels"].([]dashgen.M)[0]["fieldConfig"].(dashgen.M)["defaults"].(dashgen.M)["custom"].(dashgen.M)["lineInterpolaton"] = "linear"
		}, "unexpected field 'lineInterpolaton'"},
		{"a legend without showLegend", func(d dashgen.M) {
			delete(d["panels"].([]dashgen.M)[0]["options"].(dashgen.M)["legend"].(dashgen.M), "showLegend")
		}, "legend.showLegend: required"},
		{"a variable refresh of the wrong type", func(d dashgen.M) { d["templating"].(dashgen.M)["list"].([]dashgen.M)[0]["refresh"] = "often" }, "list[0].refresh: json: cannot unmarshal"},
		{"an annotation's query outside its target", func(d dashgen.M) { d["annotations"].(dashgen.M)["list"].([]dashgen.M)[0]["query"] = "SELECT 1" }, "unexpected field 'query'"},
		{"a panel without its grid position's width", func(d dashgen.M) { delete(d["panels"].([]dashgen.M)[0]["gridPos"].(dashgen.M), "w") }, "gridPos.w: required"},
	} {
		d := dashgen.Ranks()
		tt.wreck(d)
		b, err := dashgen.Encode(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := grafanaSchema(b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: the schema check says %v, want an error about %s", tt.what, err, tt.want)
		}
	}
}

func TestSchemaCheckCatchesStrayNames(t *testing.T) {
	for _, q := range []query{
		{text: `SELECT last("rnk") FROM "app_rank" WHERE $timeFilter`, datasource: dashgen.InfluxQL},
		{text: `SELECT last("rank") FROM "app_ranks"`, datasource: dashgen.InfluxQL},
		{text: `SHOW TAG VALUES FROM "app_rank" WITH KEY = "genre"`, datasource: dashgen.InfluxQL},
		{text: `SELECT "summary" FROM "rank_alert" WHERE "chart" = 'x'`, datasource: dashgen.InfluxQL}, // chart is no rank_alert tag
		{text: `from(bucket: "b") |> filter(fn: (r) => r._measurement == "app_rank" and r.contry == "us")`, datasource: dashgen.Flux},
		{text: `from(bucket: "b") |> filter(fn: (r) => r._measurement == "app_rank" and r._field == "position")`, datasource: dashgen.Flux},
	} {
		if len(checkSchema(q)) == 0 {
			t.Errorf("the schema check accepted %s", q.text)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       map[string]string `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   []string          `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func TestProvisioningAndComposeWiring(t *testing.T) {
	var dsFile struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			JSONData                     map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "grafana/provisioning/datasources/rankpulse.yaml", &dsFile)
	var provFile struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    map[string]any `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/rankpulse.yaml", &provFile)
	var c compose
	readYAML(t, "docker-compose.yml", &c)

	uids := map[string]string{}
	for _, ds := range dsFile.Datasources {
		uids[ds.UID] = ds.URL
		if ds.Type != "influxdb" || ds.Access != "proxy" {
			t.Errorf("datasource %s: type %s access %s", ds.UID, ds.Type, ds.Access)
		}
	}
	if dsFile.APIVersion != 1 || uids[dashgen.InfluxQL] == "" || uids[dashgen.Flux] == "" {
		t.Fatalf("datasources %+v", dsFile)
	}
	for name, d := range dashboards(t) {
		for _, q := range queries(name, d) {
			if _, ok := uids[q.datasource]; !ok {
				t.Errorf("%s %s uses datasource %q, which is not provisioned", name, q.where, q.datasource)
			}
		}
	}
	// Every service the files name exists and is wired.
	for _, s := range []string{"influxdb", "grafana", "rankpulse"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("compose has no %s service", s)
		}
	}
	for uid, raw := range uids {
		u, _ := url.Parse(raw)
		if _, ok := c.Services[u.Hostname()]; !ok || u.Port() != "8086" {
			t.Errorf("datasource %s points at %s, not the influxdb service", uid, raw)
		}
	}
	influxSvc := c.Services["influxdb"]
	if !strings.HasPrefix(influxSvc.Image, "influxdb:1.8") || influxSvc.Environment["INFLUXDB_HTTP_FLUX_ENABLED"] != "true" {
		t.Errorf("influxdb service: %+v", influxSvc)
	}
	for _, ds := range dsFile.Datasources {
		if db, ok := ds.JSONData["dbName"]; ok && db != influxSvc.Environment["INFLUXDB_DB"] {
			t.Errorf("InfluxQL datasource reads %v, the compose InfluxDB creates %s", db, influxSvc.Environment["INFLUXDB_DB"])
		}
	}
	// Grafana mounts the provisioning and the dashboards where the provider
	// looks.
	mounts := map[string]string{}
	for _, v := range c.Services["grafana"].Volumes {
		parts := strings.Split(v, ":")
		mounts[parts[1]] = parts[0]
	}
	if mounts["/etc/grafana/provisioning"] != "./grafana/provisioning" {
		t.Errorf("grafana provisioning mount: %v", mounts)
	}
	path, _ := provFile.Providers[0].Options["path"].(string)
	if src := mounts[path]; src == "" || filepath.Clean(src) != "grafana/dashboards" {
		t.Errorf("the provider reads %s, mounted from %q", path, src)
	}
	// rankpulse: built from the repository's Dockerfile, its config from
	// this directory, writing to the influxdb service, serving its port.
	rp := c.Services["rankpulse"]
	if _, err := os.Stat(filepath.Join(rp.Build["context"], rp.Build["dockerfile"])); err != nil {
		t.Errorf("rankpulse build: %v", err)
	}
	cfgMount := ""
	for _, v := range rp.Volumes {
		parts := strings.Split(v, ":")
		if parts[1] == rp.Environment["RANKPULSE_CONFIG"] {
			cfgMount = parts[0]
		}
		if named := parts[0]; !strings.HasPrefix(named, ".") {
			if _, ok := c.Volumes[named]; !ok {
				t.Errorf("volume %s is not declared", named)
			}
		}
	}
	cfg, err := config.Load(cfgMount)
	if err != nil {
		t.Fatalf("the compose config %q: %v", cfgMount, err)
	}
	if u, _ := url.Parse(cfg.Sinks.InfluxDB.URL); u == nil || u.Hostname() != "influxdb" || cfg.Sinks.InfluxDB.Bucket != influxSvc.Environment["INFLUXDB_DB"] {
		t.Errorf("rankpulse writes to %+v", cfg.Sinks.InfluxDB)
	}
	if _, port, _ := strings.Cut(cfg.Listen, ":"); !strings.HasSuffix(rp.Ports[0], ":"+port) || cfg.DataDir != "/data" {
		t.Errorf("rankpulse listens on %s with data in %s; compose publishes %v", cfg.Listen, cfg.DataDir, rp.Ports)
	}
	if !slices.Contains(rp.DependsOn, "influxdb") || !slices.Contains(c.Services["grafana"].DependsOn, "influxdb") {
		t.Error("rankpulse and grafana must depend on influxdb")
	}
	if _, err := config.Load("container.yaml"); err != nil {
		t.Errorf("the image's default config: %v", err)
	}
}

// dockerfile reads the Dockerfile's build stage: ENV settings, ARG
// defaults and the go build command.
func dockerfile(t *testing.T) (env map[string]string, build string, final []string) {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env = map[string]string{}
	stage := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			stage++
		case stage == 1 && strings.HasPrefix(line, "ENV "):
			for _, kv := range strings.Fields(strings.TrimPrefix(line, "ENV ")) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case stage == 1 && strings.HasPrefix(line, "RUN go build"):
			build = strings.TrimPrefix(line, "RUN ")
		case stage == 2 && line != "" && !strings.HasPrefix(line, "#"):
			final = append(final, line)
		}
	}
	return env, build, final
}

func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	env, build, final := dockerfile(t)
	if build == "" || env["CGO_ENABLED"] != "0" {
		t.Fatalf("build stage: env %v, build %q", env, build)
	}
	// The image's go build, flags and all, with the output here.
	out := filepath.Join(t.TempDir(), "rankpulse")
	cmdline := strings.ReplaceAll(build, "${VERSION}", "v9.9.9-test")
	cmdline = strings.Replace(cmdline, "-o /out/rankpulse", "-o "+out, 1)
	args := shellFields(cmdline)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = ".."
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatalf("the binary is dynamically linked (program header %v): it would not run on a distroless static image", p.Type)
		}
	}
	v, err := exec.Command(out, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "rankpulse v9.9.9-test") {
		t.Fatalf("version: %q %v", v, err)
	}
	// The final stage runs as non-root with a data volume.
	joined := strings.Join(final, "\n")
	for _, want := range []string{"USER nonroot:nonroot", `VOLUME ["/data"]`, "EXPOSE 9580", "--chown=65532:65532", "COPY deploy/container.yaml /etc/rankpulse/rankpulse.yaml"} {
		if !strings.Contains(joined, want) {
			t.Errorf("final stage lacks %q", want)
		}
	}
}

// shellFields splits a command line, keeping double-quoted words together.
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/rankpulse.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, v := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"DynamicUser": "yes", "StateDirectory": "rankpulse", "KillSignal": "SIGTERM", "CapabilityBoundingSet": "",
		"WorkingDirectory": "/var/lib/rankpulse", "ExecStart": "/usr/local/bin/rankpulse run",
	} {
		if len(keys[k]) == 0 || keys[k][0] != v {
			t.Errorf("%s = %v, want %q", k, keys[k], v)
		}
	}
	// The daemon may take 90s to finish in-flight work; systemd must wait longer.
	var stop int
	fmt.Sscan(keys["TimeoutStopSec"][0], &stop)
	if stop <= 90 {
		t.Errorf("TimeoutStopSec %d does not leave the daemon its 90s shutdown", stop)
	}
	// systemd's own check, where systemd is installed: it must have nothing
	// to say (it exits 0 even on unknown keys, but prints them).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit was checked by its keys only")
		return
	}
	bin := filepath.Join(t.TempDir(), "rankpulse")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	unit := filepath.Join(t.TempDir(), "rankpulse.service")
	os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/rankpulse"), []byte(bin)), 0o644)
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// ---- Every dashboard query against a real InfluxDB ----

// The fixture history, loaded by `rankpulse import`, ends on 2026-03-07
// 03:17:44; the dashboards are looked at with that as "now".
var (
	rangeFrom = time.Date(2026, 2, 17, 0, 0, 0, 0, time.UTC)
	rangeTo   = time.Date(2026, 3, 7, 3, 20, 0, 0, time.UTC)
)

type loaded struct {
	srv *influxtest.Server
	db  string
}

// load imports the fixture history (and a failed chart) with the real
// binary, and writes the alerts a backtest of it raises.
func load(t *testing.T) loaded {
	t.Helper()
	srv := influxtest.Shared(t)
	db := srv.CreateDB(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "rankpulse")
	if b, err := exec.Command("go", "build", "-o", bin, "../cmd/rankpulse").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	cfg := filepath.Join(dir, "rankpulse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
watch:
  - {name: zoom, appstore: "546505307"}
  - {name: teams, appstore: "1113153706"}
  - {name: netflixgc, appstore: "6447582581"}
alerts: {watch_only: false}
sinks:
  influxdb: {url: %s, bucket: %s}
`, filepath.Join(dir, "data"), srv.URL, db)), 0o644)
	history := filepath.Join(dir, "history.jsonl")
	failed := `{"time":"2026-03-07T03:17:44Z","store":"appstore","country":"us","chart":"top-paid","category":"6000","source":"charts","complete":false,"depth":200,"entries":[],"error":"charts: HTTP 403 Forbidden; rss: truncated JSON"}` + "\n"
	os.WriteFile(history, append(fixtures.Read(fixtures.History), failed...), 0o644)
	if out, err := exec.Command(bin, "import", "--config", cfg, "--input", history).CombinedOutput(); err != nil {
		t.Fatalf("rankpulse import: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "backtest", "--config", cfg, "--input", history).Output()
	if err != nil {
		t.Fatalf("rankpulse backtest: %v", err)
	}
	var b sinks.Batch
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a chart.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		b.Alerts = append(b.Alerts, a)
	}
	s, err := influx.New(influx.Config{URL: srv.URL, Bucket: db, SpoolDir: filepath.Join(dir, "spool")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if err := s.Write(context.Background(), b); err != nil || len(b.Alerts) == 0 {
		t.Fatalf("writing %d alerts: %v", len(b.Alerts), err)
	}
	return loaded{srv, db}
}

// values are the template variable values a test looks at; a slice is a
// multi-value selection.
type values map[string][]string

var leftover = regexp.MustCompile(`\$[\w{]`)

var varRe = regexp.MustCompile(`\$\{(\w+)(?::(\w+))?\}|\$(\w+)`)

// substitute fills a query's variables the way Grafana does.
func (l loaded) substitute(q query, vals values) string {
	s := q.text
	s = strings.ReplaceAll(s, "$timeFilter", fmt.Sprintf("time >= '%s' AND time <= '%s'", rangeFrom.Format(time.RFC3339), rangeTo.Format(time.RFC3339)))
	s = strings.ReplaceAll(s, "${__to}", fmt.Sprint(rangeTo.UnixMilli()))
	s = strings.ReplaceAll(s, "$__interval", "1h")
	s = strings.ReplaceAll(s, "v.defaultBucket", fmt.Sprintf("%q", l.db+"/autogen"))
	s = strings.ReplaceAll(s, "v.timeRangeStart", rangeFrom.Format(time.RFC3339))
	s = strings.ReplaceAll(s, "v.timeRangeStop", rangeTo.Format(time.RFC3339))
	s = strings.ReplaceAll(s, "v.windowPeriod", "1h")
	return varRe.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRe.FindStringSubmatch(m)
		name, format := sub[1]+sub[3], sub[2]
		v, ok := vals[name]
		if !ok {
			return m
		}
		// Inside /^…$/ Grafana writes a multi-value or All selection as an
		// escaped alternation (or the variable's allValue, ".*").
		regexCtx := format == "regex" || strings.Contains(q.text, "/^"+m+"$/")
		if regexCtx {
			if len(v) == 1 && v[0] == ".*" {
				return ".*"
			}
			quoted := make([]string, len(v))
			for i, x := range v {
				quoted[i] = regexp.QuoteMeta(x)
			}
			if len(quoted) == 1 {
				return quoted[0]
			}
			return "(" + strings.Join(quoted, "|") + ")"
		}
		return v[0]
	})
}

// row is one result row: its tags, and column → value.
type row map[string]any

func (l loaded) run(t *testing.T, q query, vals values) []row {
	t.Helper()
	text := l.substitute(q, vals)
	if leftover.MatchString(text) {
		t.Fatalf("%s %s: variables left after substitution: %s", q.dashboard, q.where, text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []row
	if q.datasource == dashgen.Flux {
		c := influxdb2.NewClient(l.srv.URL, "")
		defer c.Close()
		res, err := c.QueryAPI("").Query(ctx, text)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", q.dashboard, q.where, err, text)
		}
		for res.Next() {
			out = append(out, row(res.Record().Values()))
		}
		if res.Err() != nil {
			t.Fatalf("%s %s: %v", q.dashboard, q.where, res.Err())
		}
		return out
	}
	res, err := influx.V1Query(ctx, l.srv.URL, "", l.db, text)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", q.dashboard, q.where, err, text)
	}
	for _, r := range res.Results {
		for _, s := range r.Series {
			for _, v := range s.Values {
				rw := row{}
				for k, tv := range s.Tags {
					rw[k] = tv
				}
				for i, c := range s.Columns {
					rw[c] = v[i]
				}
				out = append(out, rw)
			}
		}
	}
	return out
}

func find(rows []row, match map[string]string) []row {
	var out []row
	for _, r := range rows {
		ok := true
		for k, v := range match {
			if fmt.Sprint(r[k]) != v {
				ok = false
			}
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

func TestEveryDashboardQueryAgainstInfluxDB(t *testing.T) {
	l := load(t)
	ds := dashboards(t)
	// What each dashboard is looked at with.
	looks := map[string]values{
		"ranks.json": {"store": {"appstore"}, "country": {"us", "jp"}, "chart": {"top-free"}, "category": {"6014"},
			"watch": {".*"}, "app": {"Netflix Game Controller"}},
		"ranks-flux.json": {"store": {"appstore"}, "country": {"us", "jp"}, "chart": {"top-free"}, "category": {"6014"},
			"app": {"Netflix Game Controller"}},
		"countries.json": {"watch": {"zoom"}, "store": {"appstore"}, "chart": {"top-free"}, "category": {"6000"}},
		"movers.json":    {"store": {"appstore"}, "country": {"us"}, "chart": {"top-free"}, "category": {"6014"}},
		"health.json":    {"store": {".*"}},
	}
	results := map[string][]row{} // dashboard + where → rows
	for name, d := range ds {
		for _, q := range queries(name, d) {
			rows := l.run(t, q, looks[name])
			if len(rows) == 0 {
				t.Errorf("%s %s returned nothing:\n%s", name, q.where, l.substitute(q, looks[name]))
			}
			results[name+" "+q.where] = rows
		}
	}
	expect := func(key string, match map[string]string, col string, want string) {
		t.Helper()
		rows := find(results[key], match)
		if len(rows) == 0 {
			t.Errorf("%s: no row matching %v in %v", key, match, results[key])
			return
		}
		if got := fmt.Sprint(rows[0][col]); got != want {
			t.Errorf("%s %v: %s = %s, want %s", key, match, col, got, want)
		}
	}
	tagValues := func(key string) []string {
		var out []string
		for _, r := range results[key] {
			if v, ok := r["value"]; ok {
				out = append(out, fmt.Sprint(v))
			} else {
				out = append(out, fmt.Sprint(r["_value"]))
			}
		}
		sort.Strings(out)
		return out
	}
	// Ranks: Netflix Game Controller was #8 in US top free games on Mar 6.
	expect("ranks.json panel Rank over time A", map[string]string{"app_name": "Netflix Game Controller", "country": "us", "time": "1772766000"}, "last", "8")
	expect("ranks.json panel Latest rank A", map[string]string{"app_name": "Netflix Game Controller", "country": "us"}, "rank", "9")
	if v := tagValues("ranks.json variable country"); !slices.Contains(v, "cn") || !slices.Contains(v, "us") {
		t.Errorf("country variable: %v", v)
	}
	if v := tagValues("ranks.json variable watch"); !slices.Contains(v, "zoom") {
		t.Errorf("watch variable: %v", v)
	}
	if v := tagValues("ranks.json variable app"); !slices.Contains(v, "Netflix Game Controller") {
		t.Errorf("app variable lacks Netflix Game Controller")
	}
	if rows := results["ranks.json annotation rankpulse alerts"]; len(rows) == 0 || rows[0]["summary"] == nil {
		t.Errorf("no alert annotations: %v", rows)
	}
	expect("ranks-flux.json panel Rank over time A", map[string]string{"app_name": "Netflix Game Controller", "country": "us", "_time": "2026-03-06 04:00:00 +0000 UTC"}, "_value", "8")
	if v := tagValues("ranks-flux.json variable country"); len(v) != 3 {
		t.Errorf("flux country variable: %v", v)
	}
	// Countries: Zoom Workplace in Business top free, and its 24h change.
	for cc, want := range map[string][2]string{"cn": {"39", "2"}, "jp": {"1", "-2"}, "us": {"5", "2"}} {
		expect("countries.json panel Rank by country A", map[string]string{"country": cc}, "rank", want[0])
		expect("countries.json panel Rank by country B", map[string]string{"country": cc}, "change_24h", want[1])
	}
	expect("countries.json panel Rank on the map A", map[string]string{"code": "JP"}, "rank", "1")
	// Movers: the first rows, US top free games, Mar 6 → Mar 7.
	risers := results["movers.json panel Biggest risers A"]
	sort.Slice(risers, func(i, j int) bool { return fmt.Sprint(risers[i]["change"]) < fmt.Sprint(risers[j]["change"]) })
	expect("movers.json panel Biggest risers A", map[string]string{"app_name": "Offline Games - No Wifi Games"}, "change", "-19")
	expect("movers.json panel Biggest fallers A", map[string]string{"app_name": "Hatch Dragons"}, "change", "41")
	if n := len(results["movers.json panel Biggest risers A"]); n != 15 {
		t.Errorf("%d risers, want 15", n)
	}
	// Health: every imported chart counted; the failed one listed with its error.
	total := 0.0
	for _, r := range results["health.json panel Charts fetched A"] {
		if v, ok := r["count"].(json.Number); ok {
			f, _ := v.Float64()
			total += f
		}
	}
	if total != 229 {
		t.Errorf("charts fetched sums to %v, want 229", total)
	}
	expect("health.json panel Errors A", map[string]string{"country": "us", "chart": "top-paid", "source": "charts"}, "error", "charts: HTTP 403 Forbidden; rss: truncated JSON")
}
