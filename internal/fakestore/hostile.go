package fakestore

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Hostile answers: what a broken or malicious store (or a proxy in front of
// it) may send. None of them is the fakes' default behaviour.

// HugeChartIDs is a ws/charts answer listing n distinct app ids, whatever
// limit was asked for (4.3 M ids is a 56 MB body).
func HugeChartIDs(n int) Fault {
	var b bytes.Buffer
	b.Grow(n*13 + 16)
	b.WriteString(`{"resultIds":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strconv.Itoa(1_000_000_000 + i))
		b.WriteByte('"')
	}
	b.WriteString("]}\n")
	return Fault{RawBody: b.Bytes(), ContentType: "application/json; charset=UTF-8"}
}

// HugeHTML is a 200 OK HTML page of size bytes, where JSON was expected.
func HugeHTML(size int) Fault {
	const head, tail = "<!DOCTYPE html><html><head><title>Welcome</title></head><body>", "</body></html>\n"
	filler := []byte("<p>lorem ipsum dolor sit amet, consectetur adipiscing elit</p>\n")
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(head)
	for b.Len()+len(filler)+len(tail) <= size {
		b.Write(filler)
	}
	b.WriteString(tail)
	return Fault{RawBody: b.Bytes(), ContentType: "text/html; charset=UTF-8"}
}

// SlowDrip sends the normal answer one byte every interval.
func SlowDrip(interval time.Duration) Fault {
	return Fault{Drip: interval, DripBytes: 1}
}

// ParseHostile reads a hostile mode for the fakestores command:
// ENDPOINT:KIND[=VALUE][+nolength], where ENDPOINT is charts, lookup, rss,
// marketing or play and KIND is
//
//	ids=N        a ws/charts answer of N ids (charts only)
//	html=BYTES   an HTML page of that size
//	drip=DUR     the normal answer, one byte every DUR
//	truncate     the first half of the normal answer
//	hang=DUR     the normal answer after DUR
//
// "+nolength" sends the body without a Content-Length.
func ParseHostile(spec string) (endpoint string, f Fault, err error) {
	endpoint, rest, ok := strings.Cut(spec, ":")
	if !ok {
		return "", Fault{}, fmt.Errorf("hostile mode %q: want ENDPOINT:KIND[=VALUE][+nolength]", spec)
	}
	switch endpoint {
	case EPCharts, EPLookup, EPRSS, EPMarketing, EPPlay:
	default:
		return "", Fault{}, fmt.Errorf("hostile mode %q: unknown endpoint %q", spec, endpoint)
	}
	rest, noLength := strings.CutSuffix(rest, "+nolength")
	kind, value, _ := strings.Cut(rest, "=")
	bad := func(e error) (string, Fault, error) {
		return "", Fault{}, fmt.Errorf("hostile mode %q: %w", spec, e)
	}
	switch kind {
	case "ids":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || endpoint != EPCharts {
			return bad(fmt.Errorf("ids=N needs a positive N, on charts"))
		}
		f = HugeChartIDs(n)
	case "html":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return bad(fmt.Errorf("html=BYTES needs a positive size"))
		}
		f = HugeHTML(n)
	case "drip", "hang":
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return bad(fmt.Errorf("%s=DUR needs a positive duration", kind))
		}
		if kind == "drip" {
			f = SlowDrip(d)
		} else {
			f = Fault{Hang: d}
		}
	case "truncate":
		f = Fault{Truncate: true}
	default:
		return bad(fmt.Errorf("unknown kind %q", kind))
	}
	f.NoLength = noLength
	return endpoint, f, nil
}

// writeSlowly writes body in pieces: DripBytes every Drip, or 32 KB pieces
// flushed one by one (a chunked body) when only NoLength is set. It stops
// when the client goes away.
func writeSlowly(w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	step := 32 << 10
	if f.Drip > 0 {
		step = max(f.DripBytes, 1)
	}
	fl, _ := w.(http.Flusher)
	for len(body) > 0 {
		n := min(step, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		body = body[n:]
		if f.Drip > 0 && len(body) > 0 {
			select {
			case <-time.After(f.Drip):
			case <-r.Context().Done():
				return
			}
		}
	}
}
