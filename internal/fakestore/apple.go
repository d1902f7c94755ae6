// Package fakestore provides httptest-ready fakes of the App Store and Google
// Play chart endpoints. Every response is built from a real recorded response
// in internal/fixtures: a real entry or app element is deep-copied as the
// template of each app served, inside the real envelope. Tests script faults
// (statuses, Retry-After, HTML pages, truncated bodies, hangs) per endpoint
// and read back every request the fake saw.
package fakestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rankpulse/rankpulse/internal/fixtures"
)

// Apple endpoints, as named in faults and hits.
const (
	EPCharts    = "charts"
	EPLookup    = "lookup"
	EPRSS       = "rss"
	EPMarketing = "marketing"
)

// Hit is one request the fake received.
type Hit struct {
	Time     time.Time
	Endpoint string
	Method   string
	URL      string
	Status   int
	Form     string // POST body
}

// Fault is a scripted bad answer.
type Fault struct {
	Status      int
	RetryAfter  string
	ContentType string
	Body        string // replaces the body when set
	RawBody     []byte // replaces the body when set, without a copy (large bodies)
	Truncate    bool   // send only the first half of the normal body
	Hang        time.Duration
	Location    string // redirect target
	// Transform rewrites the normal body (format drift, broken framing).
	Transform func([]byte) []byte
	// Times is how many requests the fault answers (0: all of them).
	Times int

	// Hostile answers (hostile.go builds the usual ones). NoLength sends the
	// body chunked, without a Content-Length, so that a client learns its
	// size only by reading it; Drip sends it DripBytes (default 1) at a
	// time with Drip between the writes.
	NoLength  bool
	Drip      time.Duration
	DripBytes int
}

type fault struct {
	endpoint string
	match    func(*http.Request) bool
	f        Fault
	left     int
}

// base holds what both fakes share: latency, hits and faults.
type base struct {
	// Latency is added to every answer.
	Latency time.Duration

	mu     sync.Mutex
	hits   []Hit
	faults []*fault
}

// Fail makes requests to endpoint that match (nil: all) answer with f,
// f.Times times (0: until cleared).
func (b *base) Fail(endpoint string, match func(*http.Request) bool, f Fault) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = append(b.faults, &fault{endpoint: endpoint, match: match, f: f, left: f.Times})
}

// ClearFaults removes every scripted fault.
func (b *base) ClearFaults() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = nil
}

// Hits returns every request seen so far.
func (b *base) Hits() []Hit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.hits)
}

// ResetHits forgets the requests seen so far.
func (b *base) ResetHits() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hits = nil
}

// MaxPerSecond returns the most requests seen in any one-second window.
func (b *base) MaxPerSecond() int { return b.MaxPerWindow(time.Second) }

// MaxPerWindow returns the most requests seen in any window of length w.
// A client that starts at most n requests a second is seen here a little
// off its own clock: each arrival is late by the client's, the loopback's
// and this server's scheduling, a few milliseconds on a loaded machine. A
// test that asserts a client's pacing from here allows for that with a
// window a little under a second.
func (b *base) MaxPerWindow(w time.Duration) int {
	hits := b.Hits()
	most := 0
	for i := range hits {
		n := 0
		for j := i; j < len(hits) && hits[j].Time.Sub(hits[i].Time) < w; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func (b *base) fault(endpoint string, r *http.Request) *Fault {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.faults {
		if f.endpoint != endpoint || (f.match != nil && !f.match(r)) {
			continue
		}
		if f.f.Times > 0 {
			if f.left == 0 {
				continue
			}
			f.left--
		}
		ff := f.f
		return &ff
	}
	return nil
}

func (b *base) record(h Hit) {
	b.mu.Lock()
	b.hits = append(b.hits, h)
	b.mu.Unlock()
}

// serve answers with body (or the scripted fault) after the latency.
// arrival records when r arrived, before any work is done for it.
type arrivalKey struct{}

func withArrival(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), arrivalKey{}, time.Now()))
}

func arrival(r *http.Request) time.Time {
	if t, ok := r.Context().Value(arrivalKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

func (b *base) serve(w http.ResponseWriter, r *http.Request, endpoint, contentType string, body []byte, form string) {
	h := Hit{Time: arrival(r), Endpoint: endpoint, Method: r.Method, URL: r.URL.String(), Status: http.StatusOK, Form: form}
	f := b.fault(endpoint, r)
	status := http.StatusOK
	if f != nil {
		if f.Status != 0 {
			status = f.Status
		}
		if f.Body != "" {
			body = []byte(f.Body)
		}
		if f.RawBody != nil {
			body = f.RawBody
		}
		if f.ContentType != "" {
			contentType = f.ContentType
		}
		if f.Transform != nil {
			body = f.Transform(body)
		}
		if f.Truncate {
			body = body[:len(body)/2]
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.Location != "" {
			w.Header().Set("Location", f.Location)
		}
	}
	h.Status = status
	b.record(h) // on arrival, before any hang, so that tests see it
	if f != nil && f.Hang > 0 {
		select {
		case <-time.After(f.Hang):
		case <-r.Context().Done():
		}
	}
	if b.Latency > 0 {
		select {
		case <-time.After(b.Latency):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", contentType)
	if f == nil || !f.NoLength {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if f != nil && (f.Drip > 0 || f.NoLength) {
		writeSlowly(w, r, body, f)
		return
	}
	w.Write(body)
}

// AppleApp is an app the fake Apple store knows.
type AppleApp struct {
	ID, Name, Developer, BundleID string
}

// Apple fakes itunes.apple.com (ws/charts, lookup, legacy RSS) and
// rss.applemarketingtools.com (RSS v2) on one handler; point both endpoints
// of the appstore config at it.
type Apple struct {
	base

	rmu      sync.Mutex
	round    int
	override map[string][]string
	gone     map[string]bool // "cc/id": app removed from that storefront

	pool    []AppleApp
	byID    map[string]AppleApp
	tmpl    *appleTemplates
	entries sync.Map // id → cached RSS entry JSON
	lookups sync.Map // id → cached lookup result JSON
	results sync.Map // id → cached marketing result JSON
}

// WatchedApple are real apps the fake places in its charts.
var WatchedApple = []AppleApp{
	{ID: "310633997", Name: "WhatsApp Messenger", Developer: "WhatsApp Inc.", BundleID: "net.whatsapp.WhatsApp"},
	{ID: "686449807", Name: "Telegram Messenger", Developer: "Telegram FZ-LLC", BundleID: "ph.telegra.Telegraph"},
	{ID: "874139669", Name: "Signal - Private Messenger", Developer: "Signal Messenger, LLC", BundleID: "org.whispersystems.signal"},
}

// NewApple returns a fake whose charts are a deterministic shuffle of a
// pool of poolSize apps (plus WatchedApple) per storefront, chart and genre.
func NewApple(poolSize int) *Apple {
	a := &Apple{override: map[string][]string{}, gone: map[string]bool{}, byID: map[string]AppleApp{}, tmpl: loadAppleTemplates()}
	a.pool = append(a.pool, WatchedApple...)
	for i := range poolSize {
		id := strconv.Itoa(1400000000 + i*7919)
		a.pool = append(a.pool, AppleApp{ID: id, Name: fmt.Sprintf("App %d", i), Developer: fmt.Sprintf("Developer %d", i%97), BundleID: fmt.Sprintf("com.example.app%d", i)})
	}
	for _, app := range a.pool {
		a.byID[app.ID] = app
	}
	return a
}

// App returns the app with id.
func (a *Apple) App(id string) (AppleApp, bool) {
	app, ok := a.byID[id]
	return app, ok
}

// SetRound changes every generated chart (0 is the initial state).
func (a *Apple) SetRound(n int) {
	a.rmu.Lock()
	a.round = n
	a.rmu.Unlock()
}

// SetChart fixes a chart's ranking (ids in rank order).
func (a *Apple) SetChart(cc, chartName, genre string, ids []string) {
	a.rmu.Lock()
	a.override[cc+"/"+chartName+"/"+genre] = ids
	a.rmu.Unlock()
}

// Remove takes an app out of every chart of a storefront (a ban).
func (a *Apple) Remove(cc, id string) {
	a.rmu.Lock()
	a.gone[cc+"/"+id] = true
	a.rmu.Unlock()
}

// Ranking returns the full ranking (up to 200) of a chart; chartName is
// top-free, top-paid or top-grossing and genre an Apple genre id.
func (a *Apple) Ranking(cc, chartName, genre string) []string {
	a.rmu.Lock()
	defer a.rmu.Unlock()
	var ids []string
	if o, ok := a.override[cc+"/"+chartName+"/"+genre]; ok {
		ids = slices.Clone(o)
	} else {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s/%s/%s/%d", cc, chartName, genre, a.round)
		rng := rand.New(rand.NewPCG(h.Sum64(), 42))
		perm := rng.Perm(len(a.pool))
		for _, i := range perm[:min(200, len(perm))] {
			ids = append(ids, a.pool[i].ID)
		}
	}
	return slices.DeleteFunc(ids, func(id string) bool { return a.gone[cc+"/"+id] })
}

var (
	chartNames = map[string]string{"FreeApplications": "top-free", "PaidApplications": "top-paid", "AppsByRevenue": "top-grossing"}
	rssNames   = map[string]string{"topfreeapplications": "top-free", "toppaidapplications": "top-paid", "topgrossingapplications": "top-grossing"}
	rssPathRe  = regexp.MustCompile(`^/([a-z]{2})/rss/([a-z]+)/limit=(\d+)(?:/genre=(\d+))?/json$`)
	mktPathRe  = regexp.MustCompile(`^/api/v2/([a-z]{2})/apps/(top-free|top-paid)/(\d+)/apps\.json$`)
)

// ServeHTTP routes to the four endpoints; anything else gets Apple's HTML 404.
func (a *Apple) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = withArrival(r)
	q := r.URL.Query()
	switch {
	case r.URL.Path == "/WebObjects/MZStoreServices.woa/ws/charts":
		chartName, ok := chartNames[q.Get("name")]
		limit, err := strconv.Atoi(q.Get("limit"))
		if !ok || err != nil || q.Get("cc") == "" || q.Get("g") == "" {
			a.serve(w, r, EPCharts, "text/html; charset=UTF-8", notFoundHTML, "")
			return
		}
		ids := a.Ranking(q.Get("cc"), chartName, q.Get("g"))
		ids = ids[:min(limit, 200, len(ids))]
		body, _ := json.Marshal(map[string][]string{"resultIds": ids})
		a.serve(w, r, EPCharts, "application/json; charset=UTF-8", body, "")
	case r.URL.Path == "/lookup":
		a.serve(w, r, EPLookup, "text/javascript; charset=utf-8", a.lookupBody(strings.Split(q.Get("id"), ",")), "")
	case rssPathRe.MatchString(r.URL.Path):
		m := rssPathRe.FindStringSubmatch(r.URL.Path)
		chartName, ok := rssNames[m[2]]
		if !ok {
			a.serve(w, r, EPRSS, "text/html; charset=UTF-8", notFoundHTML, "")
			return
		}
		genre := m[4]
		if genre == "" {
			genre = "36"
		}
		limit, _ := strconv.Atoi(m[3])
		ids := a.Ranking(m[1], chartName, genre)
		ids = ids[:min(limit, 100, len(ids))] // the legacy feed stops at 100
		a.serve(w, r, EPRSS, "application/json; charset=utf-8", a.rssBody(r.URL.String(), ids), "")
	case mktPathRe.MatchString(r.URL.Path):
		m := mktPathRe.FindStringSubmatch(r.URL.Path)
		limit, _ := strconv.Atoi(m[3])
		if limit > 100 {
			a.serve(w, r, EPMarketing, "text/html", []byte("<html><body>Internal Server Error</body></html>"), "")
			return
		}
		ids := a.Ranking(m[1], m[2], "36")
		ids = ids[:min(limit, len(ids))]
		a.serve(w, r, EPMarketing, "application/json", a.marketingBody(m[1], r.URL.String(), ids), "")
	default:
		a.serve(w, r, "other", "text/html; charset=UTF-8", notFoundHTML, "")
	}
}

var notFoundHTML = []byte(`<!DOCTYPE html><html><head><title>Connecting to the iTunes Store.</title></head><body><p>The page you requested was not found.</p></body></html>`)

// appleTemplates are the real responses the fake copies.
type appleTemplates struct {
	rssEnvelope map[string]any
	rssEntry    map[string]any
	lookup      map[string]any
	mktEnvelope map[string]any
	mktResult   map[string]any
}

func loadAppleTemplates() *appleTemplates {
	t := &appleTemplates{}
	must(json.Unmarshal(fixtures.Read(fixtures.RSSEnvelopeUS), &t.rssEnvelope))
	var entries []map[string]any
	must(json.Unmarshal(fixtures.Read(fixtures.RSSEntriesTR), &entries))
	t.rssEntry = entries[0]
	delete(t.rssEntry, "$position") // injected by the tool that saved it
	var lk struct {
		Results []map[string]any `json:"results"`
	}
	must(json.Unmarshal(fixtures.Read(fixtures.LookupUS), &lk))
	t.lookup = lk.Results[0]
	must(json.Unmarshal(fixtures.Read(fixtures.MarketingUS), &t.mktEnvelope))
	feed := t.mktEnvelope["feed"].(map[string]any)
	t.mktResult = feed["results"].([]any)[0].(map[string]any)
	return t
}

func must(err error) {
	if err != nil {
		panic("fakestore: " + err.Error())
	}
}

// deepCopy copies a decoded JSON value.
func deepCopy(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	must(err)
	var out map[string]any
	must(json.Unmarshal(b, &out))
	return out
}

func (a *Apple) app(id string) AppleApp {
	if app, ok := a.byID[id]; ok {
		return app
	}
	return AppleApp{ID: id, Name: "App " + id, Developer: "Developer", BundleID: "com.example." + id}
}

func cached(m *sync.Map, id string, build func() []byte) []byte {
	if b, ok := m.Load(id); ok {
		return b.([]byte)
	}
	b := build()
	m.Store(id, b)
	return b
}

func (a *Apple) rssBody(self string, ids []string) []byte {
	var entries []json.RawMessage
	for _, id := range ids {
		entries = append(entries, cached(&a.entries, id, func() []byte {
			app := a.app(id)
			e := deepCopy(a.tmpl.rssEntry)
			e["im:name"] = map[string]any{"label": app.Name}
			e["title"] = map[string]any{"label": app.Name + " - " + app.Developer}
			e["im:artist"].(map[string]any)["label"] = app.Developer
			idObj := e["id"].(map[string]any)
			idObj["label"] = "https://apps.apple.com/app/id" + app.ID + "?uo=2"
			attrs := idObj["attributes"].(map[string]any)
			attrs["im:id"] = app.ID
			attrs["im:bundleId"] = app.BundleID
			b, err := json.Marshal(e)
			must(err)
			return b
		}))
	}
	env := deepCopy(a.tmpl.rssEnvelope)
	feed := env["feed"].(map[string]any)
	feed["title"] = map[string]any{"label": "iTunes Store: Top Apps"}
	feed["id"] = map[string]any{"label": self}
	if len(entries) == 1 {
		feed["entry"] = entries[0] // the XML-to-JSON collapse of a one-entry list
	} else if len(entries) > 1 {
		feed["entry"] = entries
	} else {
		delete(feed, "entry")
	}
	b, err := json.Marshal(env)
	must(err)
	return b
}

func (a *Apple) lookupBody(ids []string) []byte {
	var buf bytes.Buffer
	n := 0
	buf.WriteString(`{"resultCount":`)
	var results [][]byte
	for _, id := range ids {
		if _, ok := a.byID[id]; !ok {
			continue // unknown ids are left out, as Apple does
		}
		results = append(results, cached(&a.lookups, id, func() []byte {
			app := a.app(id)
			r := deepCopy(a.tmpl.lookup)
			tid, _ := strconv.ParseInt(app.ID, 10, 64)
			r["trackId"] = tid
			r["trackName"] = app.Name
			r["trackCensoredName"] = app.Name
			r["artistName"] = app.Developer
			r["sellerName"] = app.Developer
			r["bundleId"] = app.BundleID
			r["trackViewUrl"] = "https://apps.apple.com/us/app/id" + app.ID + "?uo=4"
			b, err := json.Marshal(r)
			must(err)
			return b
		}))
		n++
	}
	buf.WriteString(strconv.Itoa(n))
	buf.WriteString(`,"results":[`)
	buf.Write(bytes.Join(results, []byte(",")))
	buf.WriteString("]}\n")
	return buf.Bytes()
}

func (a *Apple) marketingBody(cc, self string, ids []string) []byte {
	var results []json.RawMessage
	for _, id := range ids {
		results = append(results, cached(&a.results, id, func() []byte {
			app := a.app(id)
			r := deepCopy(a.tmpl.mktResult)
			r["id"] = app.ID
			r["name"] = app.Name
			r["artistName"] = app.Developer
			r["url"] = "https://apps.apple.com/us/app/id" + app.ID
			b, err := json.Marshal(r)
			must(err)
			return b
		}))
	}
	env := deepCopy(a.tmpl.mktEnvelope)
	feed := env["feed"].(map[string]any)
	feed["country"] = cc
	feed["id"] = self
	if results == nil {
		results = []json.RawMessage{}
	}
	feed["results"] = results
	b, err := json.Marshal(env)
	must(err)
	return b
}
