// Command fakestores serves the fake App Store and Google Play endpoints of
// internal/fakestore on a local port, for trying rankpulse and measuring
// sweeps without reaching the real stores:
//
//	go run ./internal/cmd/fakestores -addr 127.0.0.1:8999 -latency 50ms
//
// then point stores.appstore.endpoints.itunes and .marketing and
// stores.googleplay.endpoints.play at http://127.0.0.1:8999.
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	apple := fakestore.NewApple(*pool)
	apple.Latency = *latency
	play := fakestore.NewPlay(*pool)
	play.Latency = *latency
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
}
