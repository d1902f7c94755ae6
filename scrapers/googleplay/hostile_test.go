package googleplay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/scrapers"
	"github.com/rankpulse/rankpulse/scrapers/googleplay"
)

func TestRealAnswerFitsTheDefaultLimit(t *testing.T) {
	e := newEnv(t, 50) // FetchConfig.MaxBodyBytes zero: the default
	s := e.sweep(reqs([]string{"us"}, []string{"top-free"}, []string{"GAME"}, 200))["googleplay/us/top-free/GAME"]
	if !s.Complete || len(s.Entries) != 200 {
		t.Fatalf("complete=%v entries=%d error=%q: a 200-app answer must fit the default limit", s.Complete, len(s.Entries), s.Error)
	}
}

func TestAnswerOverTheLimitIsIncompleteNotABlock(t *testing.T) {
	fake := fakestore.NewPlay(300)
	e := newEnvFor(t, fake, scrapers.FetchConfig{MaxBodyBytes: 3 << 20, MaxBodyKey: "stores.googleplay.max_body_bytes"})
	e.fake.Fail(fakestore.EPPlay, func(r *http.Request) bool { return strings.Contains(r.URL.RawQuery, "gl=us") }, fakestore.HugeHTML(8<<20))
	got := e.sweep(reqs([]string{"us", "gb"}, []string{"top-free"}, []string{"all"}, 200))
	us, gb := got["googleplay/us/top-free/all"], got["googleplay/gb/top-free/all"]
	if us.Complete || len(us.Entries) != 0 || !strings.Contains(us.Error, "3145728-byte limit") || !strings.Contains(us.Error, "stores.googleplay.max_body_bytes") {
		t.Fatalf("us: complete=%v entries=%d error=%q", us.Complete, len(us.Entries), us.Error)
	}
	if !gb.Complete {
		t.Fatalf("gb: %q; an answer too large is not a block: the sweep goes on", gb.Error)
	}
	if until, _ := e.s.BlockedUntil(); !until.IsZero() {
		t.Fatalf("blocked until %s after an oversized answer", until)
	}
}

func TestStopCancelsADripWithinTheGrace(t *testing.T) {
	fake := fakestore.NewPlay(300)
	e := newEnvFor(t, fake, scrapers.FetchConfig{Timeout: time.Hour, StopGrace: 100 * time.Millisecond})
	e.fake.Fail(fakestore.EPPlay, nil, fakestore.SlowDrip(20*time.Millisecond))
	rs := reqs([]string{"us", "gb", "de", "fr"}, []string{"top-free"}, []string{"all"}, 200)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan map[string]chart.Snapshot, 1)
	go func() {
		out := map[string]chart.Snapshot{}
		e.s.Sweep(ctx, slot, rs, func(s chart.Snapshot) { out[s.Key().String()] = s })
		got <- out
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case snaps := <-got:
		if len(snaps) != len(rs) {
			t.Fatalf("%d snapshots for %d charts", len(snaps), len(rs))
		}
		for k, s := range snaps {
			if s.Complete || !strings.HasPrefix(s.Error, "not fetched:") || s.Source != googleplay.Source {
				t.Errorf("%s: complete=%v source=%q error=%q; want not fetched", k, s.Complete, s.Source, s.Error)
			}
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sweep outlived its cancellation by 30s")
	}
}
