package fakestore

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseHostile(t *testing.T) {
	for _, tc := range []struct {
		spec, endpoint string
		check          func(Fault) bool
	}{
		{"charts:ids=1000", EPCharts, func(f Fault) bool { return len(f.RawBody) > 13000 && !f.NoLength }},
		{"charts:html=4096+nolength", EPCharts, func(f Fault) bool { return len(f.RawBody) <= 4096 && len(f.RawBody) > 4000 && f.NoLength }},
		{"play:drip=10ms", EPPlay, func(f Fault) bool { return f.Drip == 10*time.Millisecond && f.DripBytes == 1 }},
		{"lookup:truncate", EPLookup, func(f Fault) bool { return f.Truncate }},
		{"rss:hang=1s", EPRSS, func(f Fault) bool { return f.Hang == time.Second }},
	} {
		ep, f, err := ParseHostile(tc.spec)
		if err != nil || ep != tc.endpoint || !tc.check(f) {
			t.Errorf("ParseHostile(%q) = %q, %+v, %v", tc.spec, ep, f, err)
		}
	}
	for _, bad := range []string{"charts", "nowhere:truncate", "lookup:ids=5", "charts:ids=-1", "charts:drip=fast", "charts:explode"} {
		if _, _, err := ParseHostile(bad); err == nil {
			t.Errorf("ParseHostile(%q): no error", bad)
		}
	}
}

func TestHostileAnswers(t *testing.T) {
	a := NewApple(50)
	srv := httptest.NewServer(a)
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	charts := "/WebObjects/MZStoreServices.woa/ws/charts?cc=us&g=36&name=FreeApplications&limit=10"

	f := HugeChartIDs(5000)
	f.NoLength = true
	a.Fail(EPCharts, nil, f)
	resp, body := get(charts)
	var v struct{ ResultIDs []string }
	if err := json.Unmarshal(body, &v); err != nil || len(v.ResultIDs) != 5000 || resp.ContentLength != -1 {
		t.Fatalf("%d ids (limit=10 asked), Content-Length %d, err %v; want 5000 ids, chunked", len(v.ResultIDs), resp.ContentLength, err)
	}

	a.ClearFaults()
	_, normal := get(charts)
	a.Fail(EPCharts, nil, SlowDrip(time.Millisecond))
	_, dripped := get(charts)
	if string(dripped) != string(normal) {
		t.Fatal("a dripped answer must be the normal answer")
	}

	a.ClearFaults()
	a.Fail(EPCharts, nil, HugeHTML(1<<20))
	resp, body = get(charts)
	if len(body) > 1<<20 || len(body) < 1<<20-100 || !strings.Contains(resp.Header.Get("Content-Type"), "html") {
		t.Fatalf("HTML page of %d bytes (%s)", len(body), resp.Header.Get("Content-Type"))
	}
}
