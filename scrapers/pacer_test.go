package scrapers

import (
	"context"
	"math"
	"sync"
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

// A request that starts late (its waiter's timer fired late, as on a
// loaded machine) does not push back the ones after it: the starts stay on
// the grid. The old pacer spaced each request from the actual start of the
// one before, so every late wake-up was lost for good.
func TestPacerLateWakeUpsKeepTheGrid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(60)
		late := 3 * time.Millisecond
		p.sleepFn = func(ctx context.Context, d time.Duration) error { return sleep(ctx, d+late) }
		iv := p.Interval()
		p.Wait(context.Background())
		t0 := time.Now()
		const n = 600
		var wg sync.WaitGroup
		for range 8 { // workers queued at the pacer
			wg.Go(func() {
				for range n / 8 {
					p.Wait(context.Background())
				}
			})
		}
		wg.Wait()
		// The burst check counts from the actual starts, so once a second
		// a late start costs its lateness: well under 1% here, where
		// spacing from each actual start cost 18%.
		if got, want := time.Since(t0), time.Duration(n)*iv*101/100; got > want {
			t.Fatalf("%d requests with timers 3 ms late took %s, want at most %s: the lateness piled up", n, got, want)
		}
	})
}

// However late the starts, no one-second window has more than rate of them,
// and a pacer left idle gives no credit: the requests after a pause in
// demand are spaced again.
func TestPacerNeverBurstsPastTheRate(t *testing.T) {
	for _, rate := range []float64{0.5, 1, 2.5, 4, 20, 60} {
		synctest.Test(t, func(t *testing.T) {
			p := NewPacer(rate)
			iv := p.Interval()
			var starts []time.Time
			for i := range 300 {
				switch {
				case i%50 == 49:
					time.Sleep(10 * iv) // idle
				case i%3 == 0:
					time.Sleep(iv * 9 / 10) // a late waiter
				}
				p.Wait(context.Background())
				starts = append(starts, time.Now())
			}
			window := time.Second
			if rate < 1 {
				window = time.Duration(float64(time.Second) / rate)
			}
			limit := max(1, int(math.Ceil(rate*window.Seconds()/pacingMargin)))
			for i := range starts {
				n := 0
				for j := i; j < len(starts) && starts[j].Sub(starts[i]) < window; j++ {
					n++
				}
				if n > limit {
					t.Fatalf("rate %g: %d starts within %s from start %d, want at most %d", rate, n, window, i, limit)
				}
			}
			for i := 1; i < len(starts); i++ {
				if i%50 == 49 && starts[i].Sub(starts[i-1]) > 5*iv && i+1 < len(starts) && starts[i+1].Sub(starts[i]) < iv*99/100 {
					t.Fatalf("rate %g: after an idle spell, starts %s apart: credit was built up", rate, starts[i+1].Sub(starts[i]))
				}
			}
		})
	}
}
