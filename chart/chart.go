// Package chart defines rankpulse's data model: a Snapshot is one fetch of one
// app-store top chart (store, country, chart, category) at one slot time, with
// its entries in rank order.
//
// The JSON form of a Snapshot is the snapshot JSONL line of SPEC §3, used by
// scrape, import, export and backtest. A Snapshot that is not Complete says
// "we failed to read this chart (fully)": an app missing from it is unknown,
// never "fell out of the chart".
package chart

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Stores.
const (
	AppStore   = "appstore"
	GooglePlay = "googleplay"
)

// Charts.
const (
	TopFree     = "top-free"
	TopPaid     = "top-paid"
	TopGrossing = "top-grossing"
)

// All is the category of a store's overall chart.
const All = "all"

// Stores lists the supported stores.
var Stores = []string{AppStore, GooglePlay}

// Charts lists the supported charts.
var Charts = []string{TopFree, TopPaid, TopGrossing}

// ValidStore reports whether s names a supported store.
func ValidStore(s string) bool { return s == AppStore || s == GooglePlay }

// ValidChart reports whether c names a supported chart.
func ValidChart(c string) bool { return c == TopFree || c == TopPaid || c == TopGrossing }

// Key identifies one chart: the series a Snapshot belongs to.
type Key struct {
	Store    string `json:"store"`
	Country  string `json:"country"`
	Chart    string `json:"chart"`
	Category string `json:"category"`
}

// String returns "store/country/chart/category".
func (k Key) String() string {
	return k.Store + "/" + k.Country + "/" + k.Chart + "/" + k.Category
}

// Entry is one app at one rank.
type Entry struct {
	Rank      int    `json:"rank"`
	AppID     string `json:"app_id"`
	Name      string `json:"name,omitempty"`
	Developer string `json:"developer,omitempty"`
	// Watch is the watch-list name of the app, set for watched apps only.
	Watch string `json:"watch,omitempty"`
}

// Snapshot is one fetch of one chart. Time is the slot time: the job's
// scheduled fire time in UTC, whole seconds.
type Snapshot struct {
	Time     time.Time `json:"time"`
	Store    string    `json:"store"`
	Country  string    `json:"country"`
	Chart    string    `json:"chart"`
	Category string    `json:"category"`
	// Source is the store endpoint the entries came from (appstore: charts,
	// rss, marketing; googleplay: play). For a failed fetch it is the last
	// source tried.
	Source string `json:"source"`
	// Complete is true when the chart was read in full down to Depth.
	Complete bool `json:"complete"`
	// Depth is how deep the chart was visible: an app missing from a complete
	// snapshot ranks below Depth.
	Depth   int     `json:"depth,omitempty"`
	Entries []Entry `json:"entries"`
	// Error says why the snapshot is incomplete (failures only).
	Error string `json:"error,omitempty"`
	// DurationMS is how long the fetch took, retries and fallbacks included.
	DurationMS int64 `json:"duration_ms,omitempty"`
}

// Key returns the snapshot's chart key.
func (s *Snapshot) Key() Key {
	return Key{Store: s.Store, Country: s.Country, Chart: s.Chart, Category: s.Category}
}

// Rank returns the app's rank in the snapshot, or 0 if it is absent.
func (s *Snapshot) Rank(appID string) int {
	for _, e := range s.Entries {
		if e.AppID == appID {
			return e.Rank
		}
	}
	return 0
}

// SlotTime normalises t to a slot time: UTC, whole seconds.
func SlotTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

var (
	countryRe  = regexp.MustCompile(`^[a-z]{2}$`)
	categoryRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

// ValidCountry reports whether cc looks like a lowercase two-letter country code.
func ValidCountry(cc string) bool { return countryRe.MatchString(cc) }

// ValidCategory reports whether k can be a category: "all" or a store id
// such as "6005" or "COMMUNICATION".
func ValidCategory(k string) bool { return categoryRe.MatchString(k) }

// MaxDepth is the deepest chart any store serves: the App Store's
// ws/charts and Google Play's top charts both stop at 200 (the feeds at
// 100). A snapshot claiming more cannot have come from a store.
const MaxDepth = 200

// ErrInvalid is wrapped by every Validate error.
var ErrInvalid = errors.New("invalid snapshot")

// Validate checks the snapshot for the facts every consumer relies on and
// fills Depth when it is absent. It never changes ranks.
func (s *Snapshot) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Time.IsZero():
		return bad("time is missing")
	case !ValidStore(s.Store):
		return bad("store %q is not one of %s", s.Store, strings.Join(Stores, ", "))
	case !ValidCountry(s.Country):
		return bad("country %q is not a lowercase two-letter code", s.Country)
	case !HasCountry(s.Store, s.Country):
		return bad("country %q is not a storefront of %s", s.Country, s.Store)
	case !ValidChart(s.Chart):
		return bad("chart %q is not one of %s", s.Chart, strings.Join(Charts, ", "))
	case !ValidCategory(s.Category):
		return bad("category %q is not \"all\" or a store category id", s.Category)
	case s.Depth < 0:
		return bad("depth %d is negative", s.Depth)
	case s.Depth > MaxDepth:
		return bad("depth %d is deeper than any store's chart (at most %d)", s.Depth, MaxDepth)
	}
	seen := make(map[string]int, len(s.Entries))
	prev := 0
	for i, e := range s.Entries {
		switch {
		case e.Rank < 1:
			return bad("entries[%d]: rank %d is not a rank (ranks start at 1)", i, e.Rank)
		case e.Rank <= prev:
			return bad("entries[%d]: rank %d does not follow rank %d (ranks must increase from 1)", i, e.Rank, prev)
		case e.AppID == "":
			return bad("entries[%d]: app_id is empty", i)
		}
		if j, dup := seen[e.AppID]; dup {
			return bad("entries[%d]: app %s already listed at entries[%d]", i, e.AppID, j)
		}
		seen[e.AppID] = i
		prev = e.Rank
	}
	if s.Depth == 0 {
		s.Depth = prev
	}
	if prev > s.Depth {
		return bad("rank %d is deeper than depth %d", prev, s.Depth)
	}
	if s.Complete && s.Error != "" {
		return bad("a complete snapshot carries error %q", s.Error)
	}
	return nil
}

// checkRead checks what a snapshot read from outside (import, backtest)
// must also hold to be one a store could have given: a complete snapshot
// is a chart read in full, so it lists every rank from 1 down to its depth.
// The one complete chart without entries is Google Play's answer that a
// chart does not exist, which rankpulse records as entries [] (never null)
// with the depth asked; the App Store never serves an empty chart, and
// rankpulse records one as incomplete. Such a line would otherwise say
// "every app fell out of the chart", or replace a good snapshot as a
// "deeper" one. Call it after Validate.
func (s *Snapshot) checkRead() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !s.Complete {
		return nil
	}
	switch {
	case s.Entries == nil:
		return bad("complete is true but entries is null or missing: a chart read in full lists its apps (give the entries, or complete: false)")
	case len(s.Entries) == 0 && s.Store == AppStore:
		return bad("a complete App Store chart with no entries: the App Store never serves an empty chart (give complete: false)")
	case len(s.Entries) == 0 && s.Depth == 0:
		return bad("a complete chart with no entries needs the depth that was asked for")
	}
	for i, e := range s.Entries {
		if e.Rank != i+1 {
			return bad("entries[%d]: rank %d where %d was expected: a complete snapshot lists every rank from 1 (give complete: false for a partial read)", i, e.Rank, i+1)
		}
	}
	if n := len(s.Entries); n > 0 && n != s.Depth {
		return bad("complete with %d entries but depth %d: a chart read in full lists every rank down to its depth (set depth to %d, or complete: false)", n, s.Depth, n)
	}
	return nil
}
