package influx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/url"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
)

// Check verifies the server answers and the database or bucket exists. An
// unreachable server is ErrUnreachable (the sink spools until it is back);
// a missing database is a configuration error.
func (s *Sink) Check(ctx context.Context) error {
	return Check(ctx, s.cfg)
}

// ErrUnreachable is wrapped by Check's error when the server did not answer.
var ErrUnreachable = errors.New("influxdb unreachable")

// ErrNoDatabase is wrapped by Check's error when the database is missing.
var ErrNoDatabase = errors.New("influxdb database or bucket not found")

// Check verifies cfg's server answers and its database or bucket exists.
func Check(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := influxdb2.NewClient(strings.TrimRight(cfg.URL, "/"), cfg.Token)
	defer client.Close()
	health, err := client.Health(ctx)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, RedactURL(cfg.URL), clientError(err, cfg.URL))
	}
	version := ""
	if health.Version != nil {
		version = strings.TrimPrefix(*health.Version, "v")
	}
	// 1.x reports "1.8.10" (or "unknown" when built without version
	// stamping); only 2.x and 3.x have buckets.
	if !strings.HasPrefix(version, "2.") && !strings.HasPrefix(version, "3.") {
		return checkV1Database(ctx, cfg)
	}
	if cfg.Org == "" {
		return fmt.Errorf("influxdb %s at %s needs sinks.influxdb.org", version, RedactURL(cfg.URL))
	}
	if _, err := client.BucketsAPI().FindBucketByName(ctx, cfg.Bucket); err != nil {
		return fmt.Errorf("%w: bucket %q at %s (create it with `influx bucket create -n %s`): %w", ErrNoDatabase, cfg.Bucket, RedactURL(cfg.URL), cfg.Bucket, clientError(err, cfg.URL))
	}
	return nil
}

// checkV1Database asks an InfluxDB 1.x server (through its InfluxQL API;
// the v2 client has none) whether the database and retention policy exist.
func checkV1Database(ctx context.Context, cfg Config) error {
	db, rp, _ := strings.Cut(cfg.Bucket, "/")
	res, err := V1Query(ctx, cfg.URL, cfg.Token, "", "SHOW DATABASES")
	if err != nil {
		return err
	}
	found := false
	for _, row := range res.Values() {
		if len(row) > 0 && row[0] == db {
			found = true
		}
	}
	if !found {
		at := RedactURL(cfg.URL)
		return fmt.Errorf("%w: database %q does not exist on %s (create it: curl -XPOST '%s/query' --data-urlencode 'q=CREATE DATABASE \"%s\"')", ErrNoDatabase, db, at, strings.TrimRight(at, "/"), db)
	}
	if rp == "" {
		return nil
	}
	res, err = V1Query(ctx, cfg.URL, cfg.Token, db, "SHOW RETENTION POLICIES")
	if err != nil {
		return err
	}
	for _, row := range res.Values() {
		if len(row) > 0 && row[0] == rp {
			return nil
		}
	}
	return fmt.Errorf("%w: retention policy %q does not exist in database %q on %s", ErrNoDatabase, rp, db, RedactURL(cfg.URL))
}

// V1Result is an InfluxQL /query answer.
type V1Result struct {
	Results []struct {
		Error  string `json:"error"`
		Series []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
	} `json:"results"`
	Error string `json:"error"`
}

// Values returns every row of every series of every statement.
func (r *V1Result) Values() [][]any {
	var out [][]any
	for _, res := range r.Results {
		for _, s := range res.Series {
			out = append(out, s.Values...)
		}
	}
	return out
}

// V1Query runs an InfluxQL statement through InfluxDB 1.x's /query
// endpoint. token is "user:password" or "".
func V1Query(ctx context.Context, base, token, db, q string) (*V1Result, error) {
	form := url.Values{"q": {q}, "epoch": {"s"}}
	if db != "" {
		form.Set("db", db)
	}
	if u, p, ok := strings.Cut(token, ":"); ok {
		form.Set("u", u)
		form.Set("p", p)
	}
	req, err := nethttp.NewRequestWithContext(ctx, nethttp.MethodPost, strings.TrimRight(base, "/")+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("influxql: url %s: %w", RedactURL(base), clientError(err, base))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, RedactURL(base), clientError(err, base))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("influxql %q: %w", q, err)
	}
	var res V1Result
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("influxql %q: HTTP %d: %.200s", q, resp.StatusCode, body)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("influxql %q: %s", q, res.Error)
	}
	for _, r := range res.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("influxql %q: %s", q, r.Error)
		}
	}
	return &res, nil
}
