package scrapers

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/metrics"
)

func testFetcher(cfg FetchConfig) *Fetcher {
	cfg.Store = "test"
	cfg.Rate = 1000
	cfg.Concurrency = 2
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	return NewFetcher(cfg, slog.New(slog.DiscardHandler), metrics.New())
}

// server answers with handler and counts the requests.
func server(t *testing.T, handler http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestBodyOverTheLimitFailsLoudlyAndIsNotRetried(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 2<<20)
	for _, announce := range []bool{true, false} {
		t.Run("content-length="+strconv.FormatBool(announce), func(t *testing.T) {
			srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
				if announce {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
					w.Write(big)
					return
				}
				for i := 0; i < len(big); i += 64 << 10 { // chunked: the size shows only while reading
					w.Write(big[i : i+64<<10])
					w.(http.Flusher).Flush()
				}
			})
			f := testFetcher(FetchConfig{Retries: 3, MaxBodyBytes: 1 << 20, MaxBodyKey: "stores.test.max_body_bytes"})
			sess := f.Session(context.Background())
			defer sess.Close()
			resp, err := sess.Do(context.Background(), HTTPRequest{URL: srv.URL + "/chart"})
			var tl *BodyTooLargeError
			if !errors.As(err, &tl) || resp != nil {
				t.Fatalf("resp %v, err = %v; want a *BodyTooLargeError", resp, err)
			}
			msg := err.Error()
			for _, want := range []string{"1048576-byte limit", "stores.test.max_body_bytes", "nothing of it was used"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if n := strings.Count(msg, srv.URL); n != 1 {
				t.Errorf("error names the URL %d times: %q", n, msg)
			}
			if announce != strings.Contains(msg, "2097152 bytes announced") {
				t.Errorf("error %q: the announced size should be given exactly when there was one", msg)
			}
			if h := hits.Load(); h != 1 {
				t.Fatalf("%d requests: an answer too large is not retried", h)
			}
		})
	}
}

func TestGzipContentTypeIsNotInflatedPastTheLimit(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(make([]byte, 4<<20)) // 4 MB of zeros, 4 KB zipped
	zw.Close()
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-gzip")
		w.Write(zipped.Bytes())
	})
	f := testFetcher(FetchConfig{MaxBodyBytes: 1 << 20})
	sess := f.Session(context.Background())
	defer sess.Close()
	resp, err := sess.Do(context.Background(), HTTPRequest{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Body) != zipped.Len() {
		t.Fatalf("body is %d bytes, want the %d bytes sent: colly must not inflate it", len(resp.Body), zipped.Len())
	}
}

func TestNetworkErrorNamesTheURLOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	f := testFetcher(FetchConfig{Retries: 1})
	sess := f.Session(context.Background())
	defer sess.Close()
	u := "http://" + addr + "/lookup?id=1"
	_, err = sess.Do(context.Background(), HTTPRequest{URL: u})
	if err == nil {
		t.Fatal("no error from a closed port")
	}
	msg := err.Error()
	if n := strings.Count(msg, u); n != 1 || strings.Contains(msg, `Get "`) {
		t.Fatalf("error %q names the URL %d times; want `GET <url>: <cause>`, the URL once", msg, n)
	}
	if !strings.HasPrefix(msg, "GET "+u+": ") || !strings.Contains(msg, "connection refused") || !strings.Contains(msg, "gave up after 2 attempts") {
		t.Fatalf("error %q: want the method, the URL, the cause and the attempts", msg)
	}
}

func TestDecodeFailuresAreRetried(t *testing.T) {
	var n atomic.Int32
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Write([]byte(`{"results":[`)) // cut short
			return
		}
		w.Write([]byte(`{"results":[]}`))
	})
	decode := func(resp *Response) error {
		if !bytes.HasSuffix(resp.Body, []byte("}")) {
			return errors.New("truncated")
		}
		return nil
	}
	f := testFetcher(FetchConfig{Retries: 3})
	sess := f.Session(context.Background())
	defer sess.Close()
	if _, err := sess.Do(context.Background(), HTTPRequest{URL: srv.URL, Decode: decode}); err != nil {
		t.Fatalf("err = %v after %d requests; two truncated answers then a good one should succeed", err, hits.Load())
	}
	if h := hits.Load(); h != 3 {
		t.Fatalf("%d requests, want 3", h)
	}
	n.Store(-100) // truncated from now on
	_, err := sess.Do(context.Background(), HTTPRequest{URL: srv.URL, Decode: decode})
	if err == nil || !strings.Contains(err.Error(), "truncated (gave up after 4 attempts)") {
		t.Fatalf("err = %v; want the decode error and the attempts", err)
	}
}

func TestStoppedSweepCancelsRequestsInFlightAfterTheGrace(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write([]byte("{"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a body that never comes
	})
	f := testFetcher(FetchConfig{Timeout: time.Hour, StopGrace: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	sess := f.Session(ctx)
	defer sess.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := sess.Do(ctx, HTTPRequest{URL: srv.URL})
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the request start
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "cancelled in flight") {
			t.Fatalf("err = %v; want ErrStopped, cancelled in flight", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a request in flight outlived the sweep's cancellation by 30s (its timeout is 1h)")
	}
}

func TestRunSweepRecordsChartsItNeverFetched(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reqs []Request
	for _, cc := range []string{"us", "gb", "de", "fr", "jp"} {
		reqs = append(reqs, Request{Key: chart.Key{Store: chart.AppStore, Country: cc, Chart: chart.TopFree, Category: chart.All}, Depth: 10})
	}
	slot := time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)
	var got []chart.Snapshot
	RunSweep(ctx, metrics.New(), reqs, 1, func(ctx context.Context, r Request) (chart.Snapshot, bool) {
		if r.Country == "gb" {
			cancel()
			return chart.Snapshot{}, false // stopped before its first request
		}
		s := NewSnapshot(slot, r)
		s.Source, s.Complete, s.Depth = "charts", true, 10
		return s, true
	}, func(r Request) chart.Snapshot { return NotFetched(slot, r, "charts") }, func(s chart.Snapshot) { got = append(got, s) })
	if len(got) != len(reqs) {
		t.Fatalf("%d snapshots for %d requests: every request gets one", len(got), len(reqs))
	}
	complete := 0
	for _, s := range got {
		switch {
		case s.Complete:
			complete++
		case !strings.HasPrefix(s.Error, "not fetched:") || len(s.Entries) != 0 || s.Source != "charts" || !s.Time.Equal(slot):
			t.Errorf("%s: %+v; want an empty incomplete snapshot saying it was not fetched", s.Key(), s)
		}
	}
	if complete != 1 {
		t.Fatalf("%d complete, want 1 (us, fetched before the stop)", complete)
	}
}
