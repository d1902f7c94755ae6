// Package metrics defines rankpulse's Prometheus metrics. One Metrics value
// is made per process (or per test) and handed to the components that count;
// nothing registers itself globally.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector rankpulse exports on /metrics.
type Metrics struct {
	Registry *prometheus.Registry

	// Scraping.
	Requests       *prometheus.CounterVec   // store, host, code
	Retries        *prometheus.CounterVec   // store, reason
	Charts         *prometheus.CounterVec   // store, source, result (complete|incomplete|failed)
	FormatDrift    *prometheus.CounterVec   // store, source
	Blocked        *prometheus.CounterVec   // store, reason
	ChartEntries   *prometheus.HistogramVec // store
	SweepDuration  *prometheus.HistogramVec // job
	LastSweep      *prometheus.GaugeVec     // job: unix time of the last finished sweep
	LastSweepFails *prometheus.GaugeVec     // job: charts that failed in the last sweep

	// Storage and sinks.
	SnapshotsStored prometheus.Counter
	SinkWrites      *prometheus.CounterVec // sink, result (ok|spooled|error)
	SinkPoints      *prometheus.CounterVec // sink
	SpoolBatches    *prometheus.GaugeVec   // sink
	SpoolBytes      *prometheus.GaugeVec   // sink
	SpoolDropped    *prometheus.CounterVec // sink
	SpoolMemory     *prometheus.GaugeVec   // sink: bytes of batches held in memory (the spool could not be written)

	// Writes the embedded store refused (a full disk, an I/O error), held
	// in memory until it takes them.
	StoreWriteFailures *prometheus.CounterVec // reason (disk_full|io_error|…)
	StoreHeld          *prometheus.GaugeVec   // kind (snapshots|evaluations)
	StoreHeldBytes     prometheus.Gauge
	StoreHeldDropped   prometheus.Counter
	StoreWritable      prometheus.Gauge

	// Alerts and webhooks.
	Alerts             *prometheus.CounterVec // kind, severity
	WebhookDeliveries  *prometheus.CounterVec // webhook, result (ok|retry|gave_up|disabled|rejected|dead)
	WebhookLatency     *prometheus.HistogramVec
	WebhookPending     *prometheus.GaugeVec // webhook
	WebhookGivenUp     *prometheus.CounterVec
	WebhookDisabled    *prometheus.GaugeVec
	WebhookDead        *prometheus.CounterVec // webhook: alerts set aside as dead
	WebhookDeadNow     *prometheus.GaugeVec   // webhook: dead alerts in the outbox
	WebhookRejecting   *prometheus.GaugeVec   // webhook: 1 while it rejects everything
	AlertEvaluationLag prometheus.Gauge

	// The cluster (storage.url set); see cluster.Status.
	ClusterInstances *prometheus.GaugeVec   // state: alive | dead | stopped
	ClusterLeader    prometheus.Gauge       // 1 while this instance evaluates
	ClusterLeases    *prometheus.GaugeVec   // instance: fetches leased now
	ClusterFetched   *prometheus.GaugeVec   // instance: charts fetched in the latest slots
	ClusterSlot      *prometheus.GaugeVec   // state: the latest slot's fetches (open|leased|done|expired)
	ClusterClaimed   *prometheus.CounterVec // store: charts this instance fetched through claims
}

// New returns a fresh set of collectors registered on a new registry, along
// with the Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_http_requests_total", Help: "HTTP requests to the stores, by status code (0: network error).",
		}, []string{"store", "host", "code"}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_http_retries_total", Help: "Store requests retried, by reason.",
		}, []string{"store", "reason"}),
		Charts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_charts_total", Help: "Charts fetched, by source and result (complete, incomplete, failed).",
		}, []string{"store", "source", "result"}),
		FormatDrift: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_format_drift_total", Help: "Responses whose shape no longer matches what the parser expects.",
		}, []string{"store", "source"}),
		Blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_blocked_total", Help: "Times a store blocked us (429, captcha, consent page).",
		}, []string{"store", "reason"}),
		ChartEntries: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rankpulse_chart_entries", Help: "Entries per fetched chart.", Buckets: []float64{0, 1, 10, 50, 100, 150, 200},
		}, []string{"store"}),
		SweepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rankpulse_sweep_duration_seconds", Help: "Wall time of a job's sweep.", Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, []string{"job"}),
		LastSweep: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_last_sweep_timestamp_seconds", Help: "When the job's last sweep finished.",
		}, []string{"job"}),
		LastSweepFails: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_last_sweep_failed_charts", Help: "Charts not read in full in the job's last sweep.",
		}, []string{"job"}),
		SnapshotsStored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rankpulse_snapshots_stored_total", Help: "Snapshots written to the embedded store.",
		}),
		SinkWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_sink_writes_total", Help: "Batches handed to a sink, by result (ok, spooled, error).",
		}, []string{"sink", "result"}),
		SinkPoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_sink_points_total", Help: "Points a sink accepted.",
		}, []string{"sink"}),
		SpoolBatches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_spool_batches", Help: "Batches waiting in a sink's on-disk spool.",
		}, []string{"sink"}),
		SpoolBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_spool_bytes", Help: "Bytes in a sink's on-disk spool.",
		}, []string{"sink"}),
		SpoolDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_spool_dropped_batches_total", Help: "Batches dropped from a full or rejected spool.",
		}, []string{"sink"}),
		SpoolMemory: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_spool_memory_bytes", Help: "Bytes of batches a sink holds in memory because its on-disk spool could not be written (a full disk); written to the spool, or sent, when they can be.",
		}, []string{"sink"}),
		StoreWriteFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_store_write_failures_total", Help: "Writes (snapshots, alert evaluations) the embedded store refused, by reason (disk_full, io_error, damaged, …).",
		}, []string{"reason"}),
		StoreHeld: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_store_held", Help: "Snapshots and alert evaluations held in memory because the embedded store refused them; written when it takes writes again.",
		}, []string{"kind"}),
		StoreHeldBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rankpulse_store_held_bytes", Help: "Memory held for writes the embedded store refused (bounded).",
		}),
		StoreHeldDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rankpulse_store_held_dropped_total", Help: "Held snapshots dropped because the memory for them was full, or because rankpulse stopped before the store took them.",
		}),
		StoreWritable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rankpulse_store_writable", Help: "1 while the embedded store takes writes, 0 while it refuses them.",
		}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_alerts_total", Help: "Alerts raised, by kind and severity.",
		}, []string{"kind", "severity"}),
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_webhook_deliveries_total", Help: "Webhook delivery attempts, by result.",
		}, []string{"webhook", "result"}),
		WebhookLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rankpulse_webhook_delivery_seconds", Help: "Time from an alert being stored to its delivery.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 12),
		}, []string{"webhook"}),
		WebhookPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_webhook_pending", Help: "Alerts waiting in the outbox, per webhook.",
		}, []string{"webhook"}),
		WebhookGivenUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_webhook_given_up_total", Help: "Deliveries abandoned after the retry window.",
		}, []string{"webhook"}),
		WebhookDisabled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_webhook_disabled", Help: "1 when a receiver answered 410 Gone and was disabled.",
		}, []string{"webhook"}),
		WebhookDead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_webhook_dead_total", Help: "Alerts set aside as dead: the receiver rejected them permanently (a 4xx other than 408, 410, 425, 429) through their short retry budget.",
		}, []string{"webhook"}),
		WebhookDeadNow: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_webhook_dead", Help: "Dead alerts in the outbox, per webhook, until `rankpulse alerts retry` or `drop`.",
		}, []string{"webhook"}),
		WebhookRejecting: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_webhook_rejecting", Help: "1 while every attempt to the receiver for at least its retry_window was a permanent rejection, with nothing delivered.",
		}, []string{"webhook"}),
		AlertEvaluationLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rankpulse_alert_evaluation_lag_slots", Help: "Stored slots not yet evaluated by the alert engine.",
		}),
		ClusterInstances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_cluster_instances", Help: "Instances of the cluster by state (alive: a heartbeat within the lease).",
		}, []string{"state"}),
		ClusterLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rankpulse_cluster_leader", Help: "1 while this instance holds the evaluator lock (evaluates alerts, writes the sinks, delivers webhooks).",
		}),
		ClusterLeases: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_cluster_leases", Help: "Fetches each instance holds a lease on now.",
		}, []string{"instance"}),
		ClusterFetched: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_cluster_charts_fetched", Help: "Charts each instance fetched in the latest slots (cluster status).",
		}, []string{"instance"}),
		ClusterSlot: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rankpulse_cluster_slot_fetches", Help: "The latest slot's fetches by state.",
		}, []string{"state"}),
		ClusterClaimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rankpulse_cluster_claimed_total", Help: "Charts this instance claimed and fetched.",
		}, []string{"store"}),
	}
	m.Registry.MustRegister(
		m.ClusterInstances, m.ClusterLeader, m.ClusterLeases, m.ClusterFetched, m.ClusterSlot, m.ClusterClaimed,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Requests, m.Retries, m.Charts, m.FormatDrift, m.Blocked, m.ChartEntries,
		m.SweepDuration, m.LastSweep, m.LastSweepFails,
		m.SnapshotsStored, m.SinkWrites, m.SinkPoints, m.SpoolBatches, m.SpoolBytes, m.SpoolDropped, m.SpoolMemory,
		m.StoreWriteFailures, m.StoreHeld, m.StoreHeldBytes, m.StoreHeldDropped, m.StoreWritable,
		m.Alerts, m.WebhookDeliveries, m.WebhookLatency, m.WebhookPending, m.WebhookGivenUp, m.WebhookDisabled,
		m.WebhookDead, m.WebhookDeadNow, m.WebhookRejecting, m.AlertEvaluationLag,
	)
	return m
}

// OrNew returns m, or a fresh unexported set when m is nil, so components can
// count unconditionally.
func OrNew(m *Metrics) *Metrics {
	if m == nil {
		return New()
	}
	return m
}
