package influx

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"net/url"
	"strings"

	"github.com/influxdata/influxdb-client-go/v2/api/http"
)

// rejected reports whether InfluxDB refused the data itself (so retrying
// the same batch cannot help), as opposed to being away or misconfigured.
func rejected(err error) bool {
	var he *http.Error
	return errors.As(err, &he) && (he.StatusCode == nethttp.StatusBadRequest || he.StatusCode == nethttp.StatusRequestEntityTooLarge)
}

// describe adds what to do to the client's terse errors.
func describe(err error, cfg Config) error {
	at := RedactURL(cfg.URL)
	var he *http.Error
	if errors.As(err, &he) {
		switch he.StatusCode {
		case nethttp.StatusNotFound:
			return fmt.Errorf("influxdb at %s has no database/bucket %q (create it, e.g. `CREATE DATABASE %s`): %w", at, cfg.Bucket, strings.SplitN(cfg.Bucket, "/", 2)[0], err)
		case nethttp.StatusUnauthorized, nethttp.StatusForbidden:
			return fmt.Errorf("influxdb at %s refused the credentials in sinks.influxdb.token: %w", at, err)
		case nethttp.StatusRequestEntityTooLarge:
			return fmt.Errorf("influxdb at %s: request too large, lower sinks.influxdb.batch_size: %w", at, err)
		}
		if he.StatusCode != 0 {
			return fmt.Errorf("influxdb at %s answered HTTP %d: %w", at, he.StatusCode, err)
		}
	}
	return fmt.Errorf("influxdb at %s: %w", at, clientError(err, cfg.URL))
}

// RedactURL returns an InfluxDB URL fit for logs and errors: its password
// and query values (and any bare query key) replaced by "xxxxx", its
// fragment dropped. A URL that does not parse as scheme://host… is
// "<unparsable url>".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" { // "user:pw@host" parses as scheme "user"
		return "<unparsable url>"
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			k, _, ok := strings.Cut(p, "=")
			if ok {
				parts[i] = k + "=xxxxx"
			} else if p != "" {
				parts[i] = "xxxxx"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	u.Fragment, u.RawFragment = "", ""
	return u.Redacted()
}

// clientError strips the URL from an error of the HTTP client (or of
// url.Parse): a *url.Error spells it out, user name, query and all, so
// only the cause it wraps is kept. Should that still hold raw's password or
// a query value, they are replaced, at the price of the error chain.
func clientError(err error, raw string) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	err = ue.Err
	u, perr := url.Parse(raw)
	if perr != nil {
		return err
	}
	var secrets []string
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw)
	}
	for _, vs := range u.Query() {
		secrets = append(secrets, vs...)
	}
	msg := err.Error()
	for _, s := range secrets {
		if len(s) >= 4 { // shorter ones would garble more than they hide
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	if msg != err.Error() {
		return errors.New(msg)
	}
	return err
}
