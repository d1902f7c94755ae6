package config_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/config"
)

func TestInvalidConfigs(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"invalid-unknown-key.yml", `testdata/invalid-unknown-key.yml:3: stores.appstore.rat: unknown key (did you mean "rate"?)`},
		{"invalid-unknown-top-key.yml", `testdata/invalid-unknown-top-key.yml:1: dataa_dir: unknown key (did you mean "data_dir"?)`},
		{"invalid-type.yml", `testdata/invalid-type.yml:3: stores.appstore.rate: got "fast", want a number`},
		{"invalid-syntax.yml", `testdata/invalid-syntax.yml:1: did not find expected '-' indicator (YAML syntax: check the indentation and quoting from this line on)`},
		{"invalid-country.yml", `testdata/invalid-country.yml:3: jobs[0].countries[1]: unknown country "uk" for appstore, googleplay (did you mean "gb"?)`},
		{"invalid-schedule.yml", `testdata/invalid-schedule.yml:4: jobs[0].schedule: schedule "TZ=0 * * * *": use CRON_TZ=Zone, not TZ=Zone`},
		{"invalid-depth.yml", `testdata/invalid-depth.yml:4: jobs[0].depth: must be between 1 and 200 (got 500)`},
		{"invalid-rate.yml", `testdata/invalid-rate.yml:3: stores.googleplay.rate: must be > 0 and <= 100 requests per second (got 0)`},
		{"invalid-max-body.yml", `testdata/invalid-max-body.yml:3: stores.appstore.max_body_bytes: must be between 65536 and 1073741824 bytes (got 1000; the default, 16777216, is well above real answers)`},
		{"invalid-source.yml", `testdata/invalid-source.yml:3: stores.appstore.sources[1]: unknown source "itunes" (want charts, rss, marketing)`},
		{"invalid-watch.yml", `testdata/invalid-watch.yml:3: watch[0].appstore: "id686449807" is not a numeric App Store id (the digits after "id" in the app's URL)`},
		{"invalid-duration.yml", `testdata/invalid-duration.yml:1: retention: got "forever", want a duration like 90d, 36h or 15m`},
		{"invalid-no-jobs.yml", `testdata/invalid-no-jobs.yml:1: jobs: no jobs: add at least one (see ` + "`rankpulse config example`)"},
		{"invalid-category.yml", `testdata/invalid-category.yml:5: jobs[0].categories.appstore[0]: "social" is not an App Store genre id (e.g. 6005 Social Networking) or "all"`},
		{"invalid-duplicate-job.yml", `testdata/invalid-duplicate-job.yml:4: jobs[1].name: job name "a" is already used by jobs[0]`},
		{"invalid-webhooks.yml", "testdata/invalid-webhooks.yml:4: alerts.webhooks[0].url: plain http to alerts.example.com would send alerts (and any token) in clear: use https, or set allow_insecure: true\n" +
			"testdata/invalid-webhooks.yml:8: alerts.webhooks[1].secret: only the json format is signed; remove the secret or use format: json\n" +
			"testdata/invalid-webhooks.yml:9: alerts.webhooks[2].name: webhook name \"ops\" is already used by alerts.webhooks[0]\n" +
			"testdata/invalid-webhooks.yml:11: alerts.webhooks[2].format: \"teams\" is not one of json, slack, discord, alertmanager\n" +
			"testdata/invalid-webhooks.yml:13: alerts.webhooks[2].filter.kinds[0]: \"surges\" is not a known value\n" +
			"testdata/invalid-webhooks.yml:14: alerts.webhooks[2].filter.watch[0]: \"nobody\" is not a known value"},
		{"invalid-influx.yml", "testdata/invalid-influx.yml:3: sinks.influxdb.url: is not an http(s) URL: it does not start with http:// or https://\ntestdata/invalid-influx.yml:4: sinks.influxdb.bucket: must name the database (InfluxDB 1.8: \"db\" or \"db/rp\") or bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := config.Load("testdata/" + tt.file)
			if err == nil {
				t.Fatal("loaded an invalid config")
			}
			var errs config.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err is %T, want config.Errors", err)
			}
			if err.Error() != tt.want {
				t.Fatalf("got:\n%s\nwant:\n%s", err, tt.want)
			}
		})
	}
}

func TestUnknownKeyWraps(t *testing.T) {
	_, err := config.Load("testdata/invalid-unknown-key.yml")
	if !errors.Is(err, config.ErrUnknownKey) {
		t.Fatalf("errors.Is(err, ErrUnknownKey) = false for %v", err)
	}
}

func TestGoodConfig(t *testing.T) {
	t.Setenv("RANKPULSE_TEST_TOKEN", "admin:s3cret")
	cfg, err := config.Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "" || cfg.Retention.D() != 30*24*time.Hour || cfg.DataDir != "/var/lib/rankpulse" {
		t.Fatalf("top level: %+v", cfg)
	}
	// Partial store settings merge with the defaults.
	as := cfg.Stores.AppStore
	if as.Rate != 2 || as.Concurrency != 4 || as.Endpoints.ITunes != "https://itunes.apple.com" || len(as.Sources) != 1 {
		t.Fatalf("appstore: %+v", as)
	}
	j := cfg.Jobs[0]
	if j.Depth != 200 || len(j.Charts) != 1 || j.Charts[0] != "top-free" || j.Categories.AppStore[0] != "6005" {
		t.Fatalf("job defaults not applied: %+v", j)
	}
	if n := len(cfg.Jobs[1].Keys("appstore")); n != 175*2 {
		t.Fatalf("[all] expands to %d App Store charts, want 350", n)
	}
	if n := len(cfg.Jobs[1].Keys("googleplay")); n != 174*2 {
		t.Fatalf("[all] expands to %d Google Play charts, want 348", n)
	}
	in := cfg.Sinks.InfluxDB
	if in == nil || in.Token.Value() != "admin:s3cret" || in.Org != "rankpulse" || in.BatchSize != 5000 {
		t.Fatalf("influxdb: %+v", in)
	}
	if len(cfg.Watch) != 1 || cfg.WatchIndex()["googleplay"]["com.turkcell.bip"] != "bip" {
		t.Fatalf("watch: %+v", cfg.Watch)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	t.Setenv("RANKPULSE_TEST_TOKEN", "admin:s3cret")
	cfg, err := config.Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg.Sinks.InfluxDB), fmt.Sprintf("%+v", *cfg.Sinks.InfluxDB), fmt.Sprintf("%v", cfg)} {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestUnsetEnvIsAWarning(t *testing.T) {
	os.Unsetenv("RANKPULSE_TEST_TOKEN")
	cfg, err := config.Load("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) == 0 || !strings.Contains(cfg.Warnings[0], "${RANKPULSE_TEST_TOKEN} is not set") {
		t.Fatalf("warnings = %q", cfg.Warnings)
	}
	t.Setenv("RANKPULSE_X", "")
	cfg, err = config.Parse([]byte("data_dir: ${RANKPULSE_Y:-/tmp/fallback}\n"), "x.yml")
	if err != nil || cfg.DataDir != "/tmp/fallback" {
		t.Fatalf("default expansion: %v %v", cfg, err)
	}
}

func TestExampleIsTheDefaults(t *testing.T) {
	cfg, err := config.Parse(config.Example, "example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := config.Default()
	cfg.Path, def.Path = "", ""
	cfg.Warnings, def.Warnings = nil, nil
	cfg.Notes, def.Notes = nil, nil
	if !reflect.DeepEqual(cfg, def) {
		t.Fatalf("`config example` drifted from the built-in defaults:\nexample  %+v\ndefaults %+v", cfg, def)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Jobs) != 1 || len(cfg.Watch) != 14 || len(cfg.Jobs[0].Countries) != 40 {
		t.Fatalf("defaults: %d jobs, %d watched, %d countries", len(cfg.Jobs), len(cfg.Watch), len(cfg.Jobs[0].Countries))
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "15m": 15 * time.Minute} {
		if got, err := config.ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1x"} {
		if _, err := config.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestWebhookErrorsNeverShowTheURL(t *testing.T) {
	_, err := config.Load("testdata/invalid-webhooks.yml")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "XXXX") {
		t.Fatalf("a webhook URL leaked into the error: %v", err)
	}
	cfg, err := config.Parse([]byte("alerts:\n  webhooks:\n    - {name: local, url: 'http://127.0.0.1:9000/h'}\n"), "x.yml")
	if err != nil {
		t.Fatalf("plain http to loopback refused: %v", err)
	}
	w := cfg.Alerts.Webhooks[0]
	if w.Format != "json" || w.Timeout.D() != 10*time.Second || w.RetryWindow.D() != 24*time.Hour {
		t.Fatalf("webhook defaults: %+v", w)
	}
}
