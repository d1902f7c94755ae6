# rankpulse — see README.md.

.PHONY: test build run bench bench-telegraf bench-throughput bench-sweep bench-cluster fmt

# The full test suite, exactly what CI runs: installs and starts InfluxDB
# 1.8.10 (real server, loopback only), runs gofmt, vet, race tests and the
# fuzz targets, and stops InfluxDB.
test:
	go run ./internal/cmd/testrun

build:
	go build -o bin/rankpulse ./cmd/rankpulse

run:
	go run ./cmd/rankpulse run

# Sweep benchmarks of the real binary against the local fake stores and a
# real InfluxDB 1.8.10 (installed into .cache/bin on first use); see
# README.md, Performance. `make bench` prints the scaling table (charts ->
# CPU s, peak RSS, wall/floor, both source modes); ARGS adds flags, e.g.
# `make bench ARGS=-sizes=500,1000`.
bench:
	go run ./internal/cmd/sweepbench -scale $(ARGS)

# rankpulse against Telegraf (built with the custom tags into .cache/) on
# the same 1,050 feeds: legacy RSS, then the default sources.
bench-telegraf:
	go run ./internal/cmd/sweepbench -telegraf -sources rss $(ARGS)
	go run ./internal/cmd/sweepbench -telegraf -sources default $(ARGS)

# wall/floor of a 1,050-chart sweep at rates 4, 20 and 60 (concurrency 8,
# 50 ms latency); about 12 minutes.
bench-throughput:
	go run ./internal/cmd/sweepbench -throughput $(ARGS)

# One 1,050-chart sweep at the default rate, described in full.
bench-sweep:
	go run ./internal/cmd/sweepbench $(ARGS)

# 1, 2 and 4 rankpulse instances sharing a PostgreSQL 15 (started here) on one
# slot of 240 App Store charts against the fake with 50 ms latency, with the
# embedded store as the baseline: wall time against requests ÷ (N × rate),
# CPU per 1,000 charts, bytes and WAL per snapshot.
bench-cluster:
	go run ./internal/cmd/clusterbench

fmt:
	gofmt -w .
