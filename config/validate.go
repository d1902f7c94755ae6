package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/scheduler"
)

// AppStoreSources are the App Store chart sources, in default preference.
var AppStoreSources = []string{"charts", "rss", "marketing"}

// MaxDepth is the deepest chart any source serves (ws/charts and Google
// Play's top charts both stop at 200).
const MaxDepth = 200

var (
	nameRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	appleIDRe  = regexp.MustCompile(`^[0-9]{1,12}$`)
	packageRe  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$`)
	genreRe    = regexp.MustCompile(`^[0-9]{1,6}$`)
	playCatRe  = regexp.MustCompile(`^[A-Z][A-Z0-9_]{1,63}$`)
	languageRe = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z]{2,4})?$`)
)

// countryAliases are common non-ISO spellings.
var countryAliases = map[string]string{"uk": "gb", "en": "gb", "el": "gr", "ja": "jp", "ko": "kr", "zh": "cn", "kosovo": "xk"}

// SuggestCountry returns the country code cc was probably meant to be:
// "gb" for "uk", "us" for "US", the nearest code for a typo; "" when none
// is close.
func SuggestCountry(cc string) string {
	if s, ok := countryAliases[strings.ToLower(cc)]; ok {
		return s
	}
	if lower := strings.ToLower(cc); lower != cc && slices.Contains(chart.CountryCodes(), lower) {
		return lower
	}
	return closest(cc, chart.CountryCodes())
}

// validator collects errors with the line of the key they are about.
type validator struct {
	li   *lineIndex
	errs Errors
}

func (v *validator) add(field, format string, args ...any) {
	e := &Error{Field: field, Err: fmt.Errorf(format, args...)}
	if v.li != nil {
		e.File = v.li.file
		e.Line = v.li.line(field)
	}
	v.errs = append(v.errs, e)
}

func (c *Config) validate(li *lineIndex) error {
	v := &validator{li: li}
	if strings.TrimSpace(c.DataDir) == "" {
		v.add("data_dir", "must not be empty")
	}
	if c.PublicURL != "" {
		checkURL(v, "public_url", c.PublicURL)
	}
	if c.Listen != "" {
		if _, port, err := net.SplitHostPort(c.Listen); err != nil {
			v.add("listen", "%q is not host:port (use \"\" to turn the HTTP server off): %w", c.Listen, err)
		} else if _, err := net.LookupPort("tcp", port); port != "" && err != nil {
			v.add("listen", "%q: the port must be a number from 0 to 65535 or a service name", c.Listen)
		}
	}
	if c.Retention.D() < time.Hour {
		v.add("retention", "must be at least 1h (got %s)", c.Retention)
	}
	if !oneOf(c.Log.Level, "debug", "info", "warn", "error") {
		v.add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		v.add("log.format", "%q is not one of text, json", c.Log.Format)
	}
	c.validateStores(v)
	c.validateJobs(v)
	c.validateWatch(v)
	c.validateAlerts(v)
	c.validateSinks(v)
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

func (c *Config) validateStores(v *validator) {
	as := c.Stores.AppStore
	checkURL(v, "stores.appstore.endpoints.itunes", as.Endpoints.ITunes)
	checkURL(v, "stores.appstore.endpoints.marketing", as.Endpoints.Marketing)
	checkFetch(v, "stores.appstore", as.Fetch)
	if len(as.Sources) == 0 {
		v.add("stores.appstore.sources", "must list at least one of %s", strings.Join(AppStoreSources, ", "))
	}
	seen := map[string]bool{}
	for i, s := range as.Sources {
		f := fmt.Sprintf("stores.appstore.sources[%d]", i)
		switch {
		case !oneOf(s, AppStoreSources...):
			v.add(f, "unknown source %q (want %s)", s, strings.Join(AppStoreSources, ", "))
		case seen[s]:
			v.add(f, "source %q is listed twice", s)
		}
		seen[s] = true
	}
	gp := c.Stores.GooglePlay
	checkURL(v, "stores.googleplay.endpoints.play", gp.Endpoints.Play)
	checkFetch(v, "stores.googleplay", gp.Fetch)
	if !languageRe.MatchString(gp.Language) {
		v.add("stores.googleplay.language", "%q is not a language code such as en or pt-BR", gp.Language)
	}
	if gp.BlockedBackoff.D() <= 0 {
		v.add("stores.googleplay.blocked_backoff", "must be positive (got %s)", gp.BlockedBackoff)
	}
}

func checkFetch(v *validator, prefix string, f Fetch) {
	if f.Rate <= 0 || f.Rate > 100 {
		v.add(prefix+".rate", "must be > 0 and <= 100 requests per second (got %g)", f.Rate)
	}
	if f.Concurrency < 1 || f.Concurrency > 64 {
		v.add(prefix+".concurrency", "must be between 1 and 64 (got %d)", f.Concurrency)
	}
	if f.Timeout.D() <= 0 {
		v.add(prefix+".timeout", "must be positive (got %s)", f.Timeout)
	}
	if f.Retries < 0 || f.Retries > 10 {
		v.add(prefix+".retries", "must be between 0 and 10 (got %d)", f.Retries)
	}
	if strings.TrimSpace(f.UserAgent) == "" {
		v.add(prefix+".user_agent", "must not be empty")
	}
	if f.MaxBodyBytes < 64<<10 || f.MaxBodyBytes > 1<<30 {
		v.add(prefix+".max_body_bytes", "must be between 65536 and 1073741824 bytes (got %d; the default, %d, is well above real answers)", f.MaxBodyBytes, DefaultMaxBodyBytes)
	}
}

// checkURL reports a value that is not an http(s) URL without repeating
// it: a URL may carry a password or a token.
func checkURL(v *validator, field, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		v.add(field, "is not an http(s) URL: it does not parse (want e.g. http://localhost:8086)")
	case u.Scheme != "http" && u.Scheme != "https":
		v.add(field, "is not an http(s) URL: it does not start with http:// or https://")
	case u.Host == "":
		v.add(field, "is not an http(s) URL: it names no host")
	}
}

func (c *Config) validateJobs(v *validator) {
	if len(c.Jobs) == 0 {
		v.add("jobs", "no jobs: add at least one (see `rankpulse config example`)")
	}
	names := map[string]int{}
	for i, j := range c.Jobs {
		p := fmt.Sprintf("jobs[%d]", i)
		if !nameRe.MatchString(j.Name) {
			v.add(p+".name", "%q must be lowercase letters, digits, '-', '_' or '.'", j.Name)
		} else if k, dup := names[j.Name]; dup {
			v.add(p+".name", "job name %q is already used by jobs[%d]", j.Name, k)
		}
		names[j.Name] = i
		if _, err := scheduler.ParseSchedule(j.Schedule); err != nil {
			v.add(p+".schedule", "%v", err)
		}
		if len(j.Stores) == 0 {
			v.add(p+".stores", "must list at least one of %s", strings.Join(chart.Stores, ", "))
		}
		var stores []string // the valid ones: countries are checked against them
		for k, s := range j.Stores {
			if chart.ValidStore(s) {
				stores = append(stores, s)
			} else {
				v.add(fmt.Sprintf("%s.stores[%d]", p, k), "unknown store %q (want %s)", s, strings.Join(chart.Stores, ", "))
			}
		}
		c.validateCountries(v, p, j, stores)
		if len(j.Charts) == 0 {
			v.add(p+".charts", "must list at least one of %s", strings.Join(chart.Charts, ", "))
		}
		for k, ch := range j.Charts {
			if !chart.ValidChart(ch) {
				v.add(fmt.Sprintf("%s.charts[%d]", p, k), "unknown chart %q (want %s)", ch, strings.Join(chart.Charts, ", "))
			}
		}
		for _, s := range stores {
			cats := j.Categories.For(s)
			if len(cats) == 0 {
				v.add(p+".categories."+s, "must list at least one category (\"all\" for the overall chart)")
			}
			for k, cat := range cats {
				f := fmt.Sprintf("%s.categories.%s[%d]", p, s, k)
				switch {
				case cat == chart.All:
				case s == chart.AppStore && !genreRe.MatchString(cat):
					v.add(f, "%q is not an App Store genre id (e.g. 6005 Social Networking) or \"all\"", cat)
				case s == chart.GooglePlay && !playCatRe.MatchString(cat):
					v.add(f, "%q is not a Google Play category id (e.g. COMMUNICATION) or \"all\"", cat)
				}
			}
		}
		if j.Depth < 1 || j.Depth > MaxDepth {
			v.add(p+".depth", "must be between 1 and %d (got %d)", MaxDepth, j.Depth)
		}
	}
}

// validateCountries checks a job's countries against its valid stores
// (none: only what does not depend on the store).
func (c *Config) validateCountries(v *validator, p string, j Job, stores []string) {
	if len(j.Countries) == 0 {
		v.add(p+".countries", "must list country codes (e.g. [us, gb]) or [all]")
		return
	}
	seen := map[string]bool{}
	for k, cc := range j.Countries {
		f := fmt.Sprintf("%s.countries[%d]", p, k)
		if cc == "all" {
			if len(j.Countries) > 1 {
				v.add(f, "\"all\" must be the only country")
			}
			continue
		}
		if seen[cc] {
			v.add(f, "country %q is listed twice", cc)
		}
		seen[cc] = true
		if len(stores) == 0 {
			continue
		}
		var served, missing []string
		for _, s := range stores {
			if chart.HasCountry(s, cc) {
				served = append(served, s)
			} else {
				missing = append(missing, s)
			}
		}
		if len(served) == 0 {
			msg := fmt.Sprintf("unknown country %q for %s", cc, strings.Join(stores, ", "))
			if s := SuggestCountry(cc); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			v.add(f, "%s", msg)
			continue
		}
		if len(missing) > 0 {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: %s (%s) is not served by %s; skipped there",
				f, cc, chart.CountryName(cc), strings.Join(missing, ", ")))
		}
	}
}

func (c *Config) validateWatch(v *validator) {
	names := map[string]int{}
	ids := map[string]string{}
	for i, w := range c.Watch {
		p := fmt.Sprintf("watch[%d]", i)
		if !nameRe.MatchString(w.Name) {
			v.add(p+".name", "%q must be lowercase letters, digits, '-', '_' or '.'", w.Name)
		} else if k, dup := names[w.Name]; dup {
			v.add(p+".name", "watch name %q is already used by watch[%d]", w.Name, k)
		}
		names[w.Name] = i
		if w.AppStore == "" && w.GooglePlay == "" {
			v.add(p, "needs an appstore id, a googleplay package, or both")
		}
		if w.AppStore != "" && !appleIDRe.MatchString(w.AppStore) {
			v.add(p+".appstore", "%q is not a numeric App Store id (the digits after \"id\" in the app's URL)", w.AppStore)
		}
		if w.GooglePlay != "" && !packageRe.MatchString(w.GooglePlay) {
			v.add(p+".googleplay", "%q is not a Google Play package name such as org.telegram.messenger", w.GooglePlay)
		}
		for _, s := range chart.Stores {
			id := w.ID(s)
			if id == "" {
				continue
			}
			if other, dup := ids[s+"/"+id]; dup {
				v.add(p+"."+s, "%s is already watched as %q", id, other)
			}
			ids[s+"/"+id] = w.Name
		}
	}
}

func (c *Config) validateAlerts(v *validator) {
	a := c.Alerts
	if a.Window.D() < time.Hour || a.Window.D() > 30*24*time.Hour {
		v.add("alerts.window", "must be between 1h and 30d (got %s)", a.Window)
	}
	if a.Lookback.D() < time.Hour {
		v.add("alerts.lookback", "must be at least 1h (got %s)", a.Lookback)
	}
	if a.Baseline != 0 {
		c.Warnings = append(c.Warnings, "alerts.baseline is no longer used (surges and drops are judged over alerts.window); remove it")
	}
	if a.MinHistory < 1 || a.MinHistory > 1000 {
		v.add("alerts.min_history", "must be between 1 and 1000 readings (got %d)", a.MinHistory)
	}
	if a.Cooldown.D() < 0 {
		v.add("alerts.cooldown", "must not be negative (got %s)", a.Cooldown)
	}
	if a.Escalation <= 1 {
		v.add("alerts.escalation", "must be greater than 1 (got %g)", a.Escalation)
	}
	for _, nr := range []struct {
		name string
		r    MoveRule
	}{{"surge", a.Surge}, {"drop", a.Drop}} {
		name, r := nr.name, nr.r
		if r.MinRatio <= 1 {
			v.add("alerts."+name+".min_ratio", "must be greater than 1 (got %g)", r.MinRatio)
		}
		if r.MinZ < 0 {
			v.add("alerts."+name+".min_z", "must not be negative (got %g)", r.MinZ)
		}
		if r.MaxRank < 1 {
			v.add("alerts."+name+".max_rank", "must be at least 1 (got %d)", r.MaxRank)
		}
	}
	if a.Entered.Top < 1 {
		v.add("alerts.entered.top", "must be at least 1 (got %d)", a.Entered.Top)
	}
	for _, nr := range []struct {
		name               string
		top, confirmations int
	}{{"exited", a.Exited.Top, a.Exited.Confirmations}, {"removed", a.Removed.Top, a.Removed.Confirmations}} {
		if nr.top < 1 {
			v.add("alerts."+nr.name+".top", "must be at least 1 (got %d)", nr.top)
		}
		if nr.confirmations < 1 {
			v.add("alerts."+nr.name+".confirmations", "must be at least 1 (got %d)", nr.confirmations)
		}
	}
	if a.Removed.MinCharts < 1 {
		v.add("alerts.removed.min_charts", "must be at least 1 (got %d)", a.Removed.MinCharts)
	}
	if a.MinSpan.D() < 0 {
		v.add("alerts.min_span", "must not be negative (got %s)", a.MinSpan)
	}
	if a.MultiCountry.MinCountries < 2 {
		v.add("alerts.multi_country.min_countries", "must be at least 2 (got %d)", a.MultiCountry.MinCountries)
	}
	if a.MultiCountry.Window.D() <= 0 {
		v.add("alerts.multi_country.window", "must be positive (got %s)", a.MultiCountry.Window)
	}
	c.validateWebhooks(v)

}

// validateWebhooks checks alerts.webhooks.
func (c *Config) validateWebhooks(v *validator) {
	names := map[string]int{}
	for i, w := range c.Alerts.Webhooks {
		p := fmt.Sprintf("alerts.webhooks[%d]", i)
		if !nameRe.MatchString(w.Name) {
			v.add(p+".name", "%q must be lowercase letters, digits, '-', '_' or '.'", w.Name)
		} else if k, dup := names[w.Name]; dup {
			v.add(p+".name", "webhook name %q is already used by alerts.webhooks[%d]", w.Name, k)
		}
		names[w.Name] = i
		if !oneOf(w.Format, WebhookFormats...) {
			v.add(p+".format", "%q is not one of %s", w.Format, strings.Join(WebhookFormats, ", "))
		}
		// The URL is a secret (Slack and Discord put credentials in it):
		// errors name its scheme and host only.
		u, err := url.Parse(w.URL.Value())
		switch {
		case w.URL == "":
			v.add(p+".url", "must be set (an empty ${VAR}?)")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.add(p+".url", "is not an http(s) URL")
		case u.Scheme == "http" && !isLoopback(u.Hostname()) && !w.AllowInsecure:
			v.add(p+".url", "plain http to %s would send alerts (and any token) in clear: use https, or set allow_insecure: true", u.Hostname())
		}
		if w.Secret != "" && w.Format != "json" {
			v.add(p+".secret", "only the json format is signed; remove the secret or use format: json")
		}
		// Standard Webhooks: the key is the base64 after "whsec_" (as
		// alerts/webhook.Sign decodes it). Never print the secret.
		if rest, ok := strings.CutPrefix(w.Secret.Value(), "whsec_"); ok {
			if key, err := base64.StdEncoding.DecodeString(rest); err != nil {
				v.add(p+".secret", "the whsec_ secret is not base64 (%w): copy it exactly as the receiver issued it, or drop the whsec_ prefix to sign with the text as it is", err)
			} else if len(key) == 0 {
				v.add(p+".secret", "the whsec_ secret is empty: put the receiver's base64 key after whsec_")
			}
		}
		if w.Timeout.D() <= 0 || w.Timeout.D() > 5*time.Minute {
			v.add(p+".timeout", "must be between 0 and 5m (got %s)", w.Timeout)
		}
		if w.RetryWindow.D() < time.Minute {
			v.add(p+".retry_window", "must be at least 1m (got %s)", w.RetryWindow)
		}
		for _, val := range []struct {
			field string
			vals  []string
			ok    func(string) bool
		}{
			{"kinds", w.Filter.Kinds, func(s string) bool { return oneOf(s, AlertKinds...) }},
			{"severities", w.Filter.Severities, func(s string) bool { return oneOf(s, "warning", "critical") }},
			{"stores", w.Filter.Stores, chart.ValidStore},
			{"countries", w.Filter.Countries, func(s string) bool {
				return chart.HasCountry(chart.AppStore, s) || chart.HasCountry(chart.GooglePlay, s)
			}},
			{"watch", w.Filter.Watch, func(s string) bool { return c.hasWatch(s) }},
		} {
			for j, x := range val.vals {
				if !val.ok(x) {
					v.add(fmt.Sprintf("%s.filter.%s[%d]", p, val.field, j), "%q is not a known value", x)
				}
			}
		}
	}
}

func (c *Config) validateSinks(v *validator) {
	in := c.Sinks.InfluxDB
	if in == nil {
		return
	}
	checkURL(v, "sinks.influxdb.url", in.URL)
	if strings.TrimSpace(in.Bucket) == "" {
		v.add("sinks.influxdb.bucket", "must name the database (InfluxDB 1.8: \"db\" or \"db/rp\") or bucket")
	}
	if in.Timeout.D() <= 0 {
		v.add("sinks.influxdb.timeout", "must be positive (got %s)", in.Timeout)
	}
	if in.BatchSize < 1 || in.BatchSize > 100000 {
		v.add("sinks.influxdb.batch_size", "must be between 1 and 100000 (got %d)", in.BatchSize)
	}
	if in.SpoolMaxBytes < 1<<20 {
		v.add("sinks.influxdb.spool_max_bytes", "must be at least 1048576 (got %d)", in.SpoolMaxBytes)
	}
}

// WebhookFormats are the webhook payload formats.
var WebhookFormats = []string{"json", "slack", "discord", "alertmanager"}

// AlertKinds are the alert kinds (SPEC §4).
var AlertKinds = []string{"surge", "drop", "entered", "exited", "removed", "multi_country_surge"}

func (c *Config) hasWatch(name string) bool {
	for _, w := range c.Watch {
		if w.Name == name {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}
