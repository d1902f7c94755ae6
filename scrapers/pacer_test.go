package scrapers

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestPacerSpacesRequestsWithoutBursts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(4)
		var starts []time.Time
		for range 5 {
			if err := p.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			starts = append(starts, time.Now())
		}
		for i := 1; i < len(starts); i++ {
			if d := starts[i].Sub(starts[i-1]); d < 250*time.Millisecond {
				t.Fatalf("requests %d and %d started %s apart, under 1/rate", i-1, i, d)
			}
		}
		// A store-wide pause holds the next request.
		p.PauseUntil(time.Now().Add(3 * time.Second))
		before := time.Now()
		p.Wait(context.Background())
		if d := time.Since(before); d < 3*time.Second {
			t.Fatalf("Wait returned %s into a 3s pause", d)
		}
	})
}

func TestPacerWaitHonoursCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(1)
		p.Wait(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := p.Wait(ctx); err == nil {
			t.Fatal("Wait returned nil after its context ended")
		}
	})
}

func TestBackoffGrowsAndIsJittered(t *testing.T) {
	f := NewFetcher(FetchConfig{BackoffBase: time.Second, BackoffMax: 8 * time.Second}, nil, nil)
	for n, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 8 * time.Second} {
		for range 50 {
			d := f.backoff(n)
			if d < max/2 || d > max {
				t.Fatalf("backoff(%d) = %s, want in [%s, %s]", n, d, max/2, max)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2021, 1, 7, 18, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"120": 2 * time.Minute, "": 0, "-5": 0, "soon": 0,
		"Thu, 07 Jan 2021 18:00:30 GMT": 30 * time.Second,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}
