package appstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/scrapers"
)

// lookupCache holds app names per country for one sweep, so that no app is
// looked up twice in a sweep.
type lookupCache struct {
	mu        sync.Mutex
	byCountry map[string]*countryApps
}

type countryApps struct {
	mu   sync.Mutex
	apps map[string]App // an empty Name: looked up, and not found or failed
}

func (c *lookupCache) country(cc string) *countryApps {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, ok := c.byCountry[cc]
	if !ok {
		ca = &countryApps{apps: map[string]App{}}
		c.byCountry[cc] = ca
	}
	return ca
}

// remember records names a feed already gave.
func (c *lookupCache) remember(cc string, entries []chart.Entry) {
	ca := c.country(cc)
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for _, e := range entries {
		if e.Name != "" {
			ca.apps[e.AppID] = App{ID: e.AppID, Name: e.Name, Developer: e.Developer}
		}
	}
}

// names returns the names of ids in r's country. Apps not seen in this
// sweep are looked up, each lookup retried (truncated and undecodable
// answers too); an app the lookup did not name gets the name already
// recorded for it (Config.Names); one still unnamed keeps an empty Name,
// which the snapshot leaves out and the InfluxDB sink tags as unknown. Once
// the sweep is stopped nothing more is looked up. Ranks never depend on
// names, so the chart stays complete either way.
func (c *lookupCache) names(ctx context.Context, sw *sweep, r scrapers.Request, ids []string) map[string]App {
	ca := c.country(r.Country)
	ca.mu.Lock() // one lookup per country at a time: no id is fetched twice
	defer ca.mu.Unlock()
	var missing []string
	for _, id := range ids {
		if _, ok := ca.apps[id]; !ok {
			missing = append(missing, id)
		}
	}
	var failure error
	for start := 0; start < len(missing) && ctx.Err() == nil; start += lookupBatch {
		batch := missing[start:min(start+lookupBatch, len(missing))]
		found, err := sw.lookup(ctx, r.Country, batch)
		if errors.Is(err, scrapers.ErrStopped) {
			failure = err
			break // the sweep is stopping: use what is known
		}
		if err != nil && failure == nil {
			failure = err
		}
		for _, id := range batch {
			ca.apps[id] = found[id]
		}
	}
	out := make(map[string]App, len(ids))
	var unnamed []string
	for _, id := range ids {
		a := ca.apps[id]
		a.ID = id
		out[id] = a
		if a.Name == "" {
			unnamed = append(unnamed, id)
		}
	}
	if len(unnamed) == 0 {
		return out
	}
	known := sw.knownNames(ctx, unnamed)
	for id, name := range known {
		a := out[id]
		a.Name = name
		out[id] = a
		ca.apps[id] = a
	}
	if failure != nil || len(known) < len(unnamed) {
		attrs := []any{"chart", r.Key.String(), "unnamed", len(unnamed), "named_from_store", len(known), "still_unknown", len(unnamed) - len(known)}
		if failure != nil {
			attrs = append(attrs, "error", failure)
		}
		sw.s.log.Warn("app names missing from the lookup: the ranks are kept; names come from the apps already stored, and apps never seen before are stored without a name", attrs...)
	}
	return out
}

// knownNames asks Config.Names for the names of ids. It runs even when the
// sweep is stopping: it reads the local store, not the App Store.
func (sw *sweep) knownNames(ctx context.Context, ids []string) map[string]string {
	if sw.s.names == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	names, err := sw.s.names.KnownNames(ctx, chart.AppStore, ids)
	if err != nil {
		sw.s.log.Warn("could not read the names already stored for unnamed apps", "apps", len(ids), "error", err)
		return nil
	}
	for id, name := range names {
		if name == "" {
			delete(names, id)
		}
	}
	return names
}

// LookupURL returns the lookup URL for ids in a country.
func LookupURL(base, cc string, ids []string) string {
	return fmt.Sprintf("%s/lookup?id=%s&country=%s&entity=software", base, strings.Join(ids, ","), cc)
}

// lookup fetches the names of ids. Apple answers a throttled lookup with a
// bare 403, and a truncated or undecodable answer is as likely to be a
// passing fault: all are retried.
func (sw *sweep) lookup(ctx context.Context, cc string, ids []string) (map[string]App, error) {
	var apps map[string]App
	_, err := sw.sess.Do(ctx, scrapers.HTTPRequest{
		URL:     LookupURL(sw.s.itunes, cc, ids),
		Header:  http.Header{"Accept": {"application/json"}},
		RetryOn: []int{http.StatusForbidden},
		Decode: func(resp *scrapers.Response) error {
			if err := scrapers.CheckJSON(resp); err != nil {
				return err
			}
			a, err := ParseLookup(resp.Body, ids)
			if err != nil {
				return formatError(resp, err)
			}
			apps = a
			return nil
		},
	})
	var fe *scrapers.FormatError
	if errors.As(err, &fe) && !errors.Is(err, io.ErrUnexpectedEOF) {
		sw.s.m.FormatDrift.WithLabelValues(chart.AppStore, "lookup").Inc()
	}
	return apps, err
}
