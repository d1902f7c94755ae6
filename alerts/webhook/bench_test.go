package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/alerts/webhook"
	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/storage"
)

// benchDispatcher is a running dispatcher with one signed json receiver,
// which calls received after reading each request.
func benchDispatcher(b *testing.B, received func()) (*webhook.Dispatcher, *storage.DB) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		received()
	}))
	b.Cleanup(recv.Close)
	w := hook("ops", recv.URL, "json")
	w.Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	d, db, _, _ := newDispatcher(b, w)
	d.Start(context.Background())
	b.Cleanup(d.Stop)
	return d, db
}

// BenchmarkOutboxDelivery measures alerts through the whole path: stored
// with their outbox rows in one transaction, picked up by the sender, signed,
// posted to a local receiver and marked delivered. It reports alerts/s and
// the latency from the alert being stored to the receiver's 2xx.
func BenchmarkOutboxDelivery(b *testing.B) {
	var got atomic.Int64
	d, db := benchDispatcher(b, func() { got.Add(1) })
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		raise(b, d, db, alert(i, chart.KindSurge))
	}
	for got.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	// Latency: outbox created → delivered, per message.
	rows, err := db.SQL().Query(`SELECT delivered - created FROM outbox WHERE state = 'delivered'`)
	if err != nil {
		b.Fatal(err)
	}
	var lat []float64
	for rows.Next() {
		var ms float64
		rows.Scan(&ms)
		lat = append(lat, ms)
	}
	rows.Close()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
	if len(lat) > 0 {
		b.ReportMetric(lat[len(lat)/2], "p50-ms")
		b.ReportMetric(lat[len(lat)*95/100], "p95-ms")
	}
}

// BenchmarkPlainPost is the baseline: the same JSON bodies posted one after
// another to the same local receiver, with nothing stored.
func BenchmarkPlainPost(b *testing.B) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer recv.Close()
	client := &http.Client{}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		body, _ := json.Marshal(webhook.JSONEvent{Type: "rank.alert", Timestamp: at, Data: alert(i, chart.KindSurge)})
		resp, err := client.Post(recv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "alerts/s")
}

// BenchmarkAlertToReceiverLatency measures one alert at a time through an
// idle outbox: stored, woken sender, signed POST, receiver's 2xx.
func BenchmarkAlertToReceiverLatency(b *testing.B) {
	done := make(chan struct{}, 1)
	d, db := benchDispatcher(b, func() { done <- struct{}{} })
	b.ResetTimer()
	for i := range b.N {
		raise(b, d, db, alert(i, chart.KindSurge))
		<-done
	}
}
