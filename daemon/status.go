package daemon

import (
	"fmt"
	"html"
	"net/http"
	"time"
)

// statusPage is a minimal status page; see web.go for the full one.
func (d *Daemon) statusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><title>rankpulse</title><h1>rankpulse %s</h1><ul>", html.EscapeString(d.version))
	for _, s := range d.LastSweeps() {
		fmt.Fprintf(w, "<li>%s: sweep of %s, %d/%d charts complete</li>", html.EscapeString(s.Job), s.Slot.Format(time.RFC3339), s.Complete, s.Charts)
	}
	fmt.Fprint(w, "</ul>")
}
