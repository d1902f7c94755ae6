// Command fakestores serves the fake App Store and Google Play endpoints of
// internal/fakestore on a local port, for trying rankpulse and measuring
// sweeps without reaching the real stores:
//
//	go run ./internal/cmd/fakestores -addr 127.0.0.1:8999 -latency 50ms
//
// then point stores.appstore.endpoints.itunes and .marketing and
// stores.googleplay.endpoints.play at http://127.0.0.1:8999.
//
// -hostile ENDPOINT:KIND[=VALUE][+nolength] (repeatable) makes an endpoint
// answer like a broken or malicious store: charts:ids=4300000,
// charts:html=52428800, charts:drip=100ms, lookup:truncate, … (see
// fakestore.ParseHostile).
package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8999", "listen address")
	latency := flag.Duration("latency", 50*time.Millisecond, "added to every answer")
	pool := flag.Int("pool", 2000, "apps per store")
	var hostile []string
	flag.Func("hostile", "ENDPOINT:KIND[=VALUE][+nolength]: a hostile answer (repeatable; see fakestore.ParseHostile)", func(v string) error {
		hostile = append(hostile, v)
		return nil
	})
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	apple := fakestore.NewApple(*pool)
	apple.Latency = *latency
	play := fakestore.NewPlay(*pool)
	play.Latency = *latency
	for _, spec := range hostile {
		ep, f, err := fakestore.ParseHostile(spec)
		if err != nil {
			slog.Error("fakestores", "error", err)
			os.Exit(2)
		}
		if ep == fakestore.EPPlay {
			play.Fail(ep, nil, f)
		} else {
			apple.Fail(ep, nil, f)
		}
		slog.Info("hostile answers", "endpoint", ep, "mode", spec)
	}
	srv := &http.Server{Addr: *addr, Handler: fakestore.Stores(apple, play), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Shutdown(context.Background())
	}()
	slog.Info("fake stores listening", "addr", "http://"+*addr, "latency", *latency)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		slog.Error("fakestores", "error", err)
		os.Exit(1)
	}
	hits := map[string]int{}
	for _, h := range append(apple.Hits(), play.Hits()...) {
		hits[h.Endpoint]++
	}
	slog.Info("requests served", "by_endpoint", hits)
}
