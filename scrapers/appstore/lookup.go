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
// looked up twice in a sweep. A country's names are dropped once its last
// chart is read: the cache holds the countries in flight, not the sweep.
type lookupCache struct {
	mu        sync.Mutex
	byCountry map[string]*countryApps
	left      map[string]int // charts of each country not read yet
}

type countryApps struct {
	mu   sync.Mutex
	apps map[string]App // an empty Name: looked up, and not found or failed
	// pending are the ids another chart of the country is looking up now;
	// the channel is closed when it is done.
	pending map[string]chan struct{}
}

func newLookupCache(reqs []scrapers.Request) *lookupCache {
	c := &lookupCache{byCountry: map[string]*countryApps{}, left: map[string]int{}}
	for _, r := range reqs {
		c.left[r.Country]++
	}
	return c
}

func (c *lookupCache) country(cc string) *countryApps {
	c.mu.Lock()
	defer c.mu.Unlock()
	ca, ok := c.byCountry[cc]
	if !ok {
		ca = &countryApps{apps: map[string]App{}, pending: map[string]chan struct{}{}}
		c.byCountry[cc] = ca
	}
	return ca
}

// done records that a chart of cc was read (or given up), and forgets the
// country's names after its last one.
func (c *lookupCache) done(cc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left[cc]--; c.left[cc] <= 0 {
		delete(c.left, cc)
		delete(c.byCountry, cc)
	}
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

// claim splits ids into those this chart is to look up (now marked
// pending, released by release) and the channels of the lookups of other
// charts to wait for. Callers hold ca.mu.
func (ca *countryApps) claim(ids []string, ch chan struct{}) (mine []string, waits []chan struct{}) {
	seen := map[chan struct{}]bool{}
	for _, id := range ids {
		if _, ok := ca.apps[id]; ok {
			continue
		}
		if w, ok := ca.pending[id]; ok {
			if !seen[w] && w != ch {
				seen[w] = true
				waits = append(waits, w)
			}
			continue
		}
		ca.pending[id] = ch
		mine = append(mine, id)
	}
	return mine, waits
}

// lookupMine looks up the ids this chart claimed, records what came back,
// and releases the claim. It returns the first error (ErrStopped when the
// sweep stopped; nothing more is looked up then).
func (ca *countryApps) lookupMine(ctx context.Context, sw *sweep, cc string, mine []string, ch chan struct{}) error {
	defer func() {
		ca.mu.Lock()
		for _, id := range mine {
			delete(ca.pending, id)
		}
		ca.mu.Unlock()
		close(ch)
	}()
	var failure error
	for start := 0; start < len(mine) && ctx.Err() == nil; start += lookupBatch {
		batch := mine[start:min(start+lookupBatch, len(mine))]
		found, err := sw.lookup(ctx, cc, batch)
		if errors.Is(err, scrapers.ErrStopped) {
			return err // the sweep is stopping: use what is known
		}
		if err != nil && failure == nil {
			failure = err
		}
		ca.mu.Lock()
		for _, id := range batch {
			ca.apps[id] = found[id]
		}
		ca.mu.Unlock()
	}
	return failure
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
	// Each id is looked up by one chart; the others of the country wait for
	// it, and look up meanwhile what nobody else does: lookups of a country
	// run side by side, and no id is fetched twice.
	var failure error
	for ctx.Err() == nil {
		ch := make(chan struct{})
		ca.mu.Lock()
		mine, waits := ca.claim(ids, ch)
		ca.mu.Unlock()
		if len(mine) == 0 && len(waits) == 0 {
			close(ch)
			break
		}
		if len(mine) > 0 {
			if err := ca.lookupMine(ctx, sw, r.Country, mine, ch); err != nil && failure == nil {
				failure = err
			}
		} else {
			close(ch)
		}
		for _, w := range waits {
			select {
			case <-w:
			case <-ctx.Done():
			}
		}
		if errors.Is(failure, scrapers.ErrStopped) {
			break
		}
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
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
