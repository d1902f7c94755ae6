package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole rankpulse configuration (SPEC §2).
type Config struct {
	// DataDir holds the embedded store, the InfluxDB spool and the webhook outbox.
	DataDir string `yaml:"data_dir"`
	// Listen is the address of the status page, /metrics, /healthz and
	// /readyz; "" turns the HTTP server off.
	Listen string `yaml:"listen"`
	// PublicURL is where people reach the status page, for links in alerts
	// (default: http://<listen>/).
	PublicURL string `yaml:"public_url"`
	// Retention is how long the embedded store keeps snapshots.
	Retention Duration `yaml:"retention"`
	Log       Log      `yaml:"log"`
	Stores    Stores   `yaml:"stores"`
	Jobs      []Job    `yaml:"jobs"`
	Watch     []Watch  `yaml:"watch"`
	Alerts    Alerts   `yaml:"alerts"`
	Sinks     Sinks    `yaml:"sinks"`
	// Storage is the store: the embedded file, or a shared PostgreSQL.
	Storage Storage `yaml:"storage"`
	// Cluster configures this instance of a cluster (with Storage.URL).
	Cluster Cluster `yaml:"cluster"`

	// Path is the file the config was read from ("" for built-in defaults).
	Path string `yaml:"-"`
	// Warnings are problems that do not stop the config from working (an
	// unset ${VAR}); every command prints them.
	Warnings []string `yaml:"-"`
	// Notes are facts `config check` reports (a country one store lacks).
	Notes []string `yaml:"-"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
}

// Stores holds the per-store settings.
type Stores struct {
	AppStore   AppStore   `yaml:"appstore"`
	GooglePlay GooglePlay `yaml:"googleplay"`
}

// Fetch holds the HTTP pacing and retry settings shared by every store.
type Fetch struct {
	// Rate is requests per second for this store, all hosts together.
	Rate float64 `yaml:"rate"`
	// Concurrency is the number of requests in flight at once.
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one HTTP request.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many times a request is retried on 429, 5xx or a
	// network error.
	Retries   int    `yaml:"retries"`
	UserAgent string `yaml:"user_agent"`
	// MaxBodyBytes bounds one answer of the store. A larger one is not read
	// past the limit: its chart is recorded incomplete, naming this key.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
}

// AppStore configures the Apple App Store scraper.
type AppStore struct {
	Endpoints AppStoreEndpoints `yaml:"endpoints"`
	// Sources are tried in this order: charts, rss, marketing.
	Sources []string `yaml:"sources"`
	Fetch   `yaml:",inline"`
}

// AppStoreEndpoints are the base URLs of Apple's hosts.
type AppStoreEndpoints struct {
	ITunes    string `yaml:"itunes"`
	Marketing string `yaml:"marketing"`
}

// GooglePlay configures the Google Play scraper.
type GooglePlay struct {
	Endpoints GooglePlayEndpoints `yaml:"endpoints"`
	// Language is the hl parameter: the language of titles.
	Language string `yaml:"language"`
	// BlockedBackoff is how long the store is left alone after Google
	// answered with a block (429, captcha, consent page); doubled on each
	// block in a row.
	BlockedBackoff Duration `yaml:"blocked_backoff"`
	Fetch          `yaml:",inline"`
}

// GooglePlayEndpoints are the base URLs of Google's hosts.
type GooglePlayEndpoints struct {
	Play string `yaml:"play"`
}

// Job is one scheduled sweep.
type Job struct {
	Name       string     `yaml:"name"`
	Schedule   string     `yaml:"schedule"`
	Stores     []string   `yaml:"stores"`
	Countries  []string   `yaml:"countries"`
	Charts     []string   `yaml:"charts"`
	Categories Categories `yaml:"categories"`
	Depth      int        `yaml:"depth"`
	// CatchUp: at start, sweep the charts of the current slot (the
	// schedule's latest fire time) that the embedded store lacks, instead
	// of waiting for the next slot.
	CatchUp bool `yaml:"catch_up"`
}

// Categories are a job's categories per store.
type Categories struct {
	AppStore   []string `yaml:"appstore"`
	GooglePlay []string `yaml:"googleplay"`
}

// For returns the categories of one store.
func (c Categories) For(store string) []string {
	if store == "googleplay" {
		return c.GooglePlay
	}
	return c.AppStore
}

// UnmarshalYAML applies a job's defaults before decoding it.
func (j *Job) UnmarshalYAML(n *yaml.Node) error {
	*j = defaultJob()
	type plain Job
	return n.Decode((*plain)(j))
}

func defaultJob() Job {
	return Job{
		Schedule: "7 * * * *",
		Stores:   []string{"appstore", "googleplay"},
		Charts:   []string{"top-free"},
		Categories: Categories{
			AppStore:   []string{"all"},
			GooglePlay: []string{"all"},
		},
		Depth:   200,
		CatchUp: true,
	}
}

// Watch is one watched app, with its id in each store.
type Watch struct {
	Name       string `yaml:"name"`
	AppStore   string `yaml:"appstore"`
	GooglePlay string `yaml:"googleplay"`
}

// ID returns the app's id in a store ("" if it is not watched there).
func (w Watch) ID(store string) string {
	if store == "googleplay" {
		return w.GooglePlay
	}
	return w.AppStore
}

// Alerts configures the alert engine and its webhooks.
type Alerts struct {
	// WatchOnly limits alerts to watched apps.
	WatchOnly bool `yaml:"watch_only"`
	// Window is the move window: a surge or drop is a move of at least
	// min_ratio completed within it, in one step or over days.
	Window Duration `yaml:"window"`
	// Lookback is how far back the engine looks for an app's recent
	// presence in a chart (an entry is an app absent from most of it).
	Lookback Duration `yaml:"lookback"`
	// Baseline is no longer used (the move window replaced the baseline of
	// recent snapshots); it is accepted so that older files still load, and
	// `config check` says so.
	Baseline int `yaml:"baseline"`
	// MinHistory is how many readings of an app must precede a move's start
	// before surge/drop can fire...
	MinHistory int `yaml:"min_history"`
	// ...and MinSpan how much time they must cover (a day of hourly
	// readings sees an app's daily cycle).
	MinSpan Duration `yaml:"min_span"`
	// Cooldown: after an alert, the same series alerts again only for a
	// bigger move (Escalation times the rank change) until Cooldown passes.
	Cooldown   Duration `yaml:"cooldown"`
	Escalation float64  `yaml:"escalation"`

	Surge        MoveRule     `yaml:"surge"`
	Drop         MoveRule     `yaml:"drop"`
	Entered      EnteredRule  `yaml:"entered"`
	Exited       AbsenceRule  `yaml:"exited"`
	Removed      RemovedRule  `yaml:"removed"`
	MultiCountry MultiCountry `yaml:"multi_country"`

	Webhooks []Webhook `yaml:"webhooks"`
}

// MoveRule is when a rank move is sudden: the rank changes by at least
// MinRatio times within the move window, by at least MinZ times the chart's
// typical one-step move at that rank, landing within the top MaxRank
// (surge) or falling from it (drop).
type MoveRule struct {
	MinRatio float64 `yaml:"min_ratio"`
	MinZ     float64 `yaml:"min_z"`
	MaxRank  int     `yaml:"max_rank"`
}

// EnteredRule: an app that was below the chart appears at Top or better.
type EnteredRule struct {
	Top int `yaml:"top"`
}

// AbsenceRule: an app that was at Top or better is absent from
// Confirmations consecutive complete snapshots.
type AbsenceRule struct {
	Top           int `yaml:"top"`
	Confirmations int `yaml:"confirmations"`
}

// RemovedRule: an app at Top or better in at least MinCharts charts of a
// country is absent from all of them (every chart of the country read in
// full) for Confirmations slots in a row, while listed in another country.
type RemovedRule struct {
	Top           int `yaml:"top"`
	MinCharts     int `yaml:"min_charts"`
	Confirmations int `yaml:"confirmations"`
}

// MultiCountry folds surges and entries of one app in MinCountries or more
// countries of a store within Window into one alert, updated as more join.
type MultiCountry struct {
	MinCountries int      `yaml:"min_countries"`
	Window       Duration `yaml:"window"`
}

// Webhook is one alert receiver.
type Webhook struct {
	Name string `yaml:"name"`
	// URL is a secret: Slack and Discord URLs carry their credentials.
	URL Secret `yaml:"url"`
	// Format is json, slack, discord or alertmanager.
	Format string `yaml:"format"`
	// Secret signs json deliveries (Standard Webhooks); "whsec_" + base64.
	Secret Secret `yaml:"secret"`
	// Headers are sent with every delivery (e.g. Authorization).
	Headers map[string]Secret `yaml:"headers"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `yaml:"timeout"`
	// RetryWindow is how long an undelivered alert is retried.
	RetryWindow Duration `yaml:"retry_window"`
	// AllowInsecure permits plain http to a host that is not loopback.
	AllowInsecure bool          `yaml:"allow_insecure"`
	Filter        WebhookFilter `yaml:"filter"`
}

// UnmarshalYAML applies a webhook's defaults before decoding it.
func (w *Webhook) UnmarshalYAML(n *yaml.Node) error {
	*w = Webhook{Format: "json", Timeout: Duration(10 * time.Second), RetryWindow: Duration(24 * time.Hour)}
	type plain Webhook
	return n.Decode((*plain)(w))
}

// WebhookFilter limits what a receiver gets; empty lists allow everything.
type WebhookFilter struct {
	Kinds      []string `yaml:"kinds"`
	Severities []string `yaml:"severities"`
	Stores     []string `yaml:"stores"`
	Countries  []string `yaml:"countries"`
	Watch      []string `yaml:"watch"`
}

// Sinks are the optional places ranks go besides the embedded store.
type Sinks struct {
	InfluxDB *InfluxDB `yaml:"influxdb"`
}

// InfluxDB configures the InfluxDB sink.
type InfluxDB struct {
	URL string `yaml:"url"`
	// Token is "user:password" or empty for InfluxDB 1.8, an API token for 2.x.
	Token Secret `yaml:"token"`
	// Org is ignored by InfluxDB 1.8.
	Org string `yaml:"org"`
	// Bucket is "database" or "database/retention-policy" for InfluxDB 1.8.
	Bucket string `yaml:"bucket"`
	// Timeout bounds one write request.
	Timeout Duration `yaml:"timeout"`
	// BatchSize is the number of points per write request.
	BatchSize int `yaml:"batch_size"`
	// SpoolMaxBytes bounds the on-disk spool of batches InfluxDB has not
	// taken yet; the oldest batch is dropped (and logged) past it.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
}

// UnmarshalYAML applies the sink's defaults before decoding it.
func (c *InfluxDB) UnmarshalYAML(n *yaml.Node) error {
	*c = InfluxDB{
		Org:           "rankpulse",
		Bucket:        "rankpulse",
		Timeout:       Duration(30 * time.Second),
		BatchSize:     5000,
		SpoolMaxBytes: 1 << 30,
	}
	type plain InfluxDB
	return n.Decode((*plain)(c))
}

// Secret is a string that never prints itself: not in logs, not in errors,
// not through fmt. Use Value to get it.
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String returns a redacted form.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "REDACTED"
}

// LogValue keeps the secret out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Duration is a time.Duration that also accepts days and weeks ("90d", "2w",
// "1d12h") in YAML.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration, in days when it is a whole number of them.
func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// UnmarshalYAML parses a duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseDuration parses a Go duration with optional leading days ("d") and
// weeks ("w") terms: "90d", "2w", "1d12h", "36h", "15m".
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	var total time.Duration
	for _, unit := range []struct {
		suffix byte
		d      time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}} {
		i := strings.IndexByte(s, unit.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90d, 36h, 15m", orig)
		}
		total += time.Duration(n) * unit.d
		s = s[i+1:]
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 90d, 36h, 15m", orig)
		}
		total += d
	}
	if orig == "" {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 90d, 36h, 15m", orig)
	}
	return total, nil
}
