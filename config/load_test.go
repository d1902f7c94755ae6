package config_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rankpulse/rankpulse/config"
)

const job = "jobs:\n  - name: a\n    countries: [us]\n"

func TestEnvExpandsIntoAnyType(t *testing.T) {
	t.Setenv("DEPTH", "50")
	t.Setenv("WO", "false")
	t.Setenv("RATE", "2.5")
	t.Setenv("CONC", "3")
	t.Setenv("RET", "90d")
	t.Setenv("LOOKBACK", "36h")
	src := job + `    depth: ${DEPTH}
  - name: b
    countries: [us]
    depth: "${DEPTH}"
retention: ${RET}
stores:
  appstore:
    rate: ${RATE}
    concurrency: '${CONC}'
alerts:
  watch_only: ${WO}
  lookback: ${LOOKBACK}
`
	cfg, err := config.Parse([]byte(src), "env.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Jobs[0].Depth != 50 || cfg.Jobs[1].Depth != 50 {
		t.Errorf("depth = %d, %d; want 50", cfg.Jobs[0].Depth, cfg.Jobs[1].Depth)
	}
	if cfg.Alerts.WatchOnly {
		t.Error("watch_only: ${WO} with WO=false decoded as true")
	}
	if as := cfg.Stores.AppStore; as.Rate != 2.5 || as.Concurrency != 3 {
		t.Errorf("rate %g, concurrency %d; want 2.5, 3", as.Rate, as.Concurrency)
	}
	if cfg.Retention.D() != 90*24*time.Hour || cfg.Alerts.Lookback.D() != 36*time.Hour {
		t.Errorf("retention %s, lookback %s", cfg.Retention, cfg.Alerts.Lookback)
	}
}

// A string field gets the variable's text byte for byte, whatever YAML would
// make of it: no tag resolution (yaml.v3 turns a plain null into "" or
// keeps the default), no YAML parsing.
func TestEnvStringsAreExact(t *testing.T) {
	for _, val := range []string{
		"0123", "true", "yes", "null", "Null", "~", "", "1e3", "0x1F", ".inf", "2001-12-14", "<<",
		"a: b", "x #y", "#z", "[1, 2]", "{a: 1}", "- item", "&anchor", "*alias", "!!int 5",
		"'quoted'", `"dq"`, "  spaced  ", "two\nlines", "tab\there", "${NOT_AGAIN}", "x\nlisten: evil:1",
	} {
		t.Setenv("S", val)
		src := `sinks:
  influxdb:
    url: http://127.0.0.1:8086
    token: ${S}
    org: "${S}"
alerts:
  webhooks:
    - name: ops
      url: https://example.invalid/hook
      headers:
        X-Token: '${S}'
`
		cfg, err := config.Parse([]byte(src), "env.yaml")
		if err != nil {
			t.Errorf("S=%q: %v", val, err)
			continue
		}
		in := cfg.Sinks.InfluxDB
		if in.Token.Value() != val || in.Org != val || cfg.Alerts.Webhooks[0].Headers["X-Token"].Value() != val {
			t.Errorf("S=%q: token %q, org %q, header %q", val, in.Token.Value(), in.Org, cfg.Alerts.Webhooks[0].Headers["X-Token"].Value())
		}
		if cfg.Listen != config.Default().Listen {
			t.Errorf("S=%q injected listen: %q", val, cfg.Listen)
		}
	}
}

// A non-string field never shows the expanded value (it may be a secret put
// in the wrong place), and text that would be null is not an integer.
func TestEnvTypeErrors(t *testing.T) {
	for _, val := range []string{"s3cret", "", "~", "null"} {
		t.Setenv("DEPTH", val)
		_, err := config.Parse([]byte(job+"    depth: ${DEPTH}\n"), "env.yaml")
		want := `env.yaml:4: jobs[0].depth: got the expansion of "${DEPTH}", want an integer`
		if err == nil || err.Error() != want {
			t.Errorf("DEPTH=%q: got %v, want %s", val, err, want)
		}
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{job + "    depth: lots\n", `c.yaml:4: jobs[0].depth: got "lots", want an integer`},
		{job + "    depth: \"50\"\n", `c.yaml:4: jobs[0].depth: got "50", want an integer (remove the quotes)`},
		{"stores: []\n", `c.yaml:1: stores: got a list, want a mapping`},
		{"stores:\n  appstore:\n    sources: rss\n", `c.yaml:3: stores.appstore.sources: got "rss", want a list`},
		{"retention: 90 days\n", `c.yaml:1: retention: got "90 days", want a duration like 90d, 36h or 15m`},
		{"alerts:\n  lookback: -5d\n", `c.yaml:2: alerts.lookback: got "-5d", want a duration like 90d, 36h or 15m`},
		{"alerts:\n  watch_only: maybe\n", `c.yaml:2: alerts.watch_only: got "maybe", want true or false`},
		{"alerts:\n  webhooks:\n    - name: a\n      url: [x]\n", `c.yaml:4: alerts.webhooks[0].url: got a list, want a string`},
		{"jobs: {a: 1}\n", `c.yaml:1: jobs: got a mapping, want a list`},
		{"jobs:\n  - just-a-name\n", `c.yaml:2: jobs[0]: got "just-a-name", want a mapping`},
		{"listen: x:1\nlog:\n  level: [debug]\nretention: forever\n", "c.yaml:3: log.level: got a list, want a string\n" +
			`c.yaml:4: retention: got "forever", want a duration like 90d, 36h or 15m`},
	} {
		_, err := config.Parse([]byte(tt.src), "c.yaml")
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q:\ngot  %v\nwant %s", tt.src, err, tt.want)
			continue
		}
		var ye *yaml.TypeError
		if !errors.As(err, &ye) {
			t.Errorf("%q: the yaml.v3 error is not wrapped", tt.src)
		}
	}
}

func TestSecondDocumentIsAnError(t *testing.T) {
	_, err := config.Parse([]byte("listen: 127.0.0.1:1\n\n---\nlisten: x\n"), "c.yaml")
	want := "c.yaml:3: a second YAML document starts here: rankpulse reads only one; merge it into the first or delete it"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	_, err = config.Parse([]byte("listen: 127.0.0.1:1\n---\nlisten: [\n"), "c.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "c.yaml:") {
		t.Fatalf("a syntax error in a second document: %v", err)
	}
	// An empty trailing document holds nothing to ignore.
	if _, err := config.Parse([]byte("listen: 127.0.0.1:1\n---\n"), "c.yaml"); err != nil {
		t.Fatal(err)
	}
}

func TestMissingFileIsAConfigError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	_, err := config.Load(path)
	var errs config.Errors
	if !errors.As(err, &errs) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %T %v; want config.Errors wrapping fs.ErrNotExist", err, err)
	}
	want := path + ": cannot read the config file: no such file or directory (run `rankpulse config example > " + path + "` for a starting point)"
	if err.Error() != want {
		t.Fatalf("got  %s\nwant %s", err, want)
	}
}
