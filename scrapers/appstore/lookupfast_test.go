package appstore

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/fixtures"
)

// sameLookup fails t unless ParseLookup gives exactly what decodeLookup (the
// reading before scanLookup) gives.
func sameLookup(t *testing.T, name string, body []byte, ids []string) {
	t.Helper()
	got, gerr := ParseLookup(body, ids)
	want, werr := decodeLookup(body, ids)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: ParseLookup = %v, %v; reference = %v, %v\nbody: %.300q", name, got, gerr, want, werr, body)
	}
}

// fakeLookup is a 200-app lookup answer as internal/fakestore serves it.
func fakeLookup(t testing.TB) ([]byte, []string) {
	a := fakestore.NewApple(2000)
	ids := a.Ranking("us", "top-free", "36")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", LookupURL("", "us", ids), nil))
	if rec.Code != 200 {
		t.Fatalf("fake lookup: HTTP %d", rec.Code)
	}
	return rec.Body.Bytes(), ids
}

func TestScanLookupTakesRealAnswers(t *testing.T) {
	fake, ids := fakeLookup(t)
	real := fixtures.Read(fixtures.LookupUS)
	for name, c := range map[string]struct {
		body []byte
		ids  []string
	}{"real US answer": {real, []string{"284882215", "1"}}, "fake 200-app answer": {fake, ids}} {
		if _, ok := scanLookup(c.body, c.ids); !ok {
			t.Errorf("%s: the fast scan gave up on a real answer", name)
		}
		sameLookup(t, name, c.body, c.ids)
	}
}

func TestScanLookupOddInput(t *testing.T) {
	r := func(fields string) string { return `{"resultCount":1,"results":[{` + fields + `}]}` }
	cases := map[string]string{
		"plain":              r(`"kind":"software","trackId":1,"trackName":"A","artistName":"D"`),
		"string id":          r(`"kind":"software","trackId":"1","trackName":"A","sellerName":"S"`),
		"no kind":            r(`"trackId":1,"trackName":"A"`),
		"mac":                r(`"kind":"mac-software","trackId":1,"trackName":"A"`),
		"other kind bad id":  r(`"kind":"podcast","trackId":true,"trackName":"A"`),
		"bad id":             r(`"kind":"software","trackId":"x1","trackName":"A"`),
		"bool id":            r(`"kind":"software","trackId":true`),
		"float id":           r(`"kind":"software","trackId":1.5`),
		"negative id":        r(`"kind":"software","trackId":-1`),
		"no id":              r(`"kind":"software","trackName":"A"`),
		"null id":            r(`"kind":"software","trackId":null`),
		"name number":        r(`"trackId":1,"trackName":7`),
		"name null":          r(`"trackId":1,"trackName":null`),
		"escaped name":       r(`"trackId":1,"trackName":"Caf\u00e9 \"Q\"","artistName":"\ud83d\ude00"`),
		"case-folded key":    r(`"trackId":1,"TrackName":"A"`),
		"duplicate key":      r(`"trackId":1,"trackName":"A","trackName":"B"`),
		"not asked":          r(`"trackId":2,"trackName":"A"`),
		"twice":              `{"results":[{"trackId":1,"trackName":"A"},{"trackId":1,"trackName":"B"}]}`,
		"results twice":      `{"results":[],"results":[{"trackId":1,"trackName":"A"}]}`,
		"Results":            `{"Results":[{"trackId":1,"trackName":"A"}]}`,
		"results null":       `{"results":null}`,
		"results object":     `{"results":{"trackId":1}}`,
		"result not object":  `{"results":[1]}`,
		"result null":        `{"results":[null]}`,
		"no results":         `{"resultCount":0}`,
		"empty results":      `{"resultCount":0,"results":[]}`,
		"flood":              `{"results":[` + strings.Repeat(`{"trackId":2},`, 12) + `{"trackId":2}]}`,
		"trailing garbage":   `{"results":[{"trackId":1,"trackName":"A"}]} x`,
		"truncated":          `{"resultCount":1,"results":[{"kind":"software","trackId":1,"trackName":"Fo`,
		"truncated after":    `{"resultCount":1,"results":[{"kind":"software","trackId":1,"trackName":"Foo"}]`,
		"top-level array":    `[{"results":[]}]`,
		"html":               `<html>captcha</html>`,
		"empty":              ``,
		"nested skipped":     r(`"trackId":1,"trackName":"A","screenshotUrls":["a","b"],"genres":{"x":[1,2,{"y":null}]},"price":0.99,"free":true`),
		"deeply nested":      r(`"trackId":1,"x":` + strings.Repeat("[", 80) + strings.Repeat("]", 80)),
		"raw newline string": r("\"trackId\":1,\"trackName\":\"a\nb\""),
		"invalid utf-8":      r("\"trackId\":1,\"trackName\":\"a\xffb\""),
	}
	for name, body := range cases {
		sameLookup(t, name, []byte(body), []string{"1"})
	}
}

func TestScanLookupTruncatedAndFlipped(t *testing.T) {
	body := fixtures.Read(fixtures.LookupUS)
	ids := []string{"284882215", "1"}
	for n := 0; n < len(body); n += 5 {
		sameLookup(t, fmt.Sprintf("cut at %d", n), body[:n], ids)
	}
	for i := 0; i < len(body); i += 7 {
		for _, c := range []byte{'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'x', 0x01, 0xff} {
			b := bytes.Clone(body)
			b[i] = c
			sameLookup(t, fmt.Sprintf("byte %d = %q", i, c), b, ids)
		}
	}
}

func FuzzScanLookup(f *testing.F) {
	f.Add(fixtures.Read(fixtures.LookupUS))
	f.Add([]byte(`{"resultCount":1,"results":[{"kind":"software","trackId":1,"trackName":"A","artistName":"D"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { sameLookup(t, "fuzz", b, []string{"1", "284882215"}) })
}

func BenchmarkParseLookup(b *testing.B) {
	body, ids := fakeLookup(b)
	for name, parse := range map[string]func([]byte, []string) (map[string]App, error){"scan": ParseLookup, "encoding-json": decodeLookup} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := parse(body, ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
