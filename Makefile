# rankpulse — see README.md.

.PHONY: test build run bench bench-cluster fmt

# The full test suite, exactly what CI runs: installs and starts InfluxDB
# 1.8.10 (real server, loopback only), runs gofmt, vet, race tests and the
# fuzz targets, and stops InfluxDB.
test:
	go run ./internal/cmd/testrun

build:
	go build -o bin/rankpulse ./cmd/rankpulse

run:
	go run ./cmd/rankpulse run

# A full 175-country App Store sweep against a local fake with 50 ms latency.
bench:
	go run ./internal/cmd/sweepbench

# 1, 2 and 4 rankpulse instances sharing a PostgreSQL 15 (started here) on one
# slot of 240 App Store charts against the fake with 50 ms latency, with the
# embedded store as the baseline: wall time against requests ÷ (N × rate),
# CPU per 1,000 charts, bytes and WAL per snapshot.
bench-cluster:
	go run ./internal/cmd/clusterbench

fmt:
	gofmt -w .
