package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type server struct {
	srv  *http.Server
	addr string
	done chan struct{}
}

func (d *Daemon) listen() (*server, error) {
	if d.cfg.Listen == "" {
		return &server{}, nil
	}
	ln, err := net.Listen("tcp", d.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (change `listen:` in the config, or set it to \"\" to turn the HTTP server off)", d.cfg.Listen, err)
	}
	s := &server{
		srv:  &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	d.mu.Lock()
	d.addr = s.addr
	d.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("http server stopped", "error", err)
		}
	}()
	d.log.Info("serving status, metrics and health", "addr", "http://"+s.addr+"/")
	return s, nil
}

func (s *server) close() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	<-s.done
}

// Addr returns the address the HTTP server listens on, once it does.
func (d *Daemon) Addr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

// Handler serves /healthz, /readyz, /metrics and the status pages. The
// first call starts rebuilding the status pages' summaries from the
// embedded store, in the background.
func (d *Daemon) Handler() http.Handler {
	d.status.Start()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", d.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.m.Registry, promhttp.HandlerOpts{Registry: d.m.Registry}))
	d.status.Register(mux)
	return mux
}

// Readiness is /readyz's answer.
type Readiness struct {
	Ready    bool              `json:"ready"`
	Problems []string          `json:"problems,omitempty"`
	Jobs     map[string]string `json:"jobs"`
}

// Ready reports whether storage answers, no webhook rejects everything
// (see webhook.RejectsEverything) and no job's last sweep failed entirely.
func (d *Daemon) Ready(ctx context.Context) Readiness {
	r := Readiness{Ready: true, Jobs: map[string]string{}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.db.Ping(ctx); err != nil {
		r.Ready = false
		r.Problems = append(r.Problems, "embedded store: "+err.Error())
	}
	if p := d.restoring(); p != "" {
		r.Ready = false
		r.Problems = append(r.Problems, p)
	}
	for _, p := range d.hooks.Problems(ctx) { // receivers that reject everything
		r.Ready = false
		r.Problems = append(r.Problems, p)
	}
	last := map[string]Summary{}
	for _, s := range d.LastSweeps() {
		last[s.Job] = s
	}
	for _, job := range d.cfg.Jobs {
		s, ok := last[job.Name]
		switch {
		case !ok:
			r.Jobs[job.Name] = "no sweep yet"
		case s.AllFailed():
			r.Ready = false
			r.Jobs[job.Name] = "last sweep failed"
			r.Problems = append(r.Problems, fmt.Sprintf("job %s: no chart could be read in the sweep of %s (%v)", job.Name, s.Slot.Format(time.RFC3339), s.Errors))
		default:
			r.Jobs[job.Name] = fmt.Sprintf("last sweep %s: %d/%d charts complete", s.Slot.Format(time.RFC3339), s.Complete, s.Charts)
		}
	}
	return r
}

func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	rd := d.Ready(r.Context())
	w.Header().Set("Content-Type", "application/json")
	if !rd.Ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rd)
}
