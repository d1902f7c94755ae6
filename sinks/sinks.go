// Package sinks defines where rankpulse sends what a sweep produced besides
// the embedded store. Each sink takes a whole sweep as one Batch; a sink
// whose server is away keeps the batch (on disk) and delivers it later, so a
// Write error means the batch could not even be kept.
//
// The InfluxDB sink lives in sinks/influx.
package sinks

import (
	"context"

	"github.com/rankpulse/rankpulse/chart"
)

// Batch is what one sweep produced: its snapshots and the alerts they
// raised.
type Batch struct {
	Snapshots []chart.Snapshot
	Alerts    []chart.Alert
}

// Len returns the number of snapshots in the batch.
func (b Batch) Len() int { return len(b.Snapshots) }

// Sink receives batches.
type Sink interface {
	// Name identifies the sink in logs and metrics.
	Name() string
	// Write delivers the batch or keeps it for later delivery. It must not
	// block for long when the sink's server is down.
	Write(ctx context.Context, b Batch) error
	// Flush tries to deliver everything kept so far, until ctx is done.
	Flush(ctx context.Context) error
	// Close stops background delivery; what is undelivered stays kept.
	Close(ctx context.Context) error
}
