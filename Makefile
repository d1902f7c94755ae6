# rankpulse — see README.md.

.PHONY: test build run bench fmt

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

fmt:
	gofmt -w .
