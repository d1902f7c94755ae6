package appstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fakestore"
	"github.com/rankpulse/rankpulse/internal/fixtures"
)

// referenceRSS is ParseRSS as it was before scanRSS: encoding/json only.
func referenceRSS(body []byte) ([]chart.Entry, error) {
	entries, err := decodeRSS(body)
	if err != nil {
		return nil, err
	}
	return rssEntries(entries)
}

// sameAsReference fails t unless ParseRSS gives exactly what the reference
// gives: the same entries, or the same error text.
func sameAsReference(t *testing.T, name string, body []byte) {
	t.Helper()
	got, gerr := ParseRSS(body)
	want, werr := referenceRSS(body)
	if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: ParseRSS = %d entries, %v; reference = %d entries, %v\nbody: %.300q", name, len(got), gerr, len(want), werr, body)
	}
}

// fakeRSS is a full 100-app feed as internal/fakestore serves it (built from
// the real fixtures).
func fakeRSS(t testing.TB) []byte {
	a := fakestore.NewApple(2000)
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest("GET", "/tr/rss/topfreeapplications/limit=100/genre=6005/json", nil))
	if rec.Code != 200 {
		t.Fatalf("fake rss: HTTP %d", rec.Code)
	}
	return rec.Body.Bytes()
}

func TestScanRSSTakesRealFeeds(t *testing.T) {
	trEntries := trFeedBytes(t)
	for name, body := range map[string][]byte{
		"verbatim US envelope": fixtures.Read(fixtures.RSSEnvelopeUS),
		"real TR entries":      trEntries,
		"fake 100-app feed":    fakeRSS(t),
	} {
		if _, ok := scanRSS(body); !ok {
			t.Errorf("%s: the fast scan gave up on a real feed", name)
		}
		sameAsReference(t, name, body)
	}
}

func trFeedBytes(t *testing.T) []byte {
	var entries []json.RawMessage
	if err := json.Unmarshal(fixtures.Read(fixtures.RSSEntriesTR), &entries); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"feed": map[string]any{"id": map[string]string{"label": "u"}, "entry": entries}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScanRSSOddInput: every odd case reads exactly as encoding/json reads it
// (most by the fallback): escapes, invalid UTF-8, nulls, wrong types,
// case-folded and duplicate keys, bad numbers, truncations, trailing data.
func TestScanRSSOddInput(t *testing.T) {
	e := func(name, id string) string {
		return `{"im:name":{"label":` + name + `},"im:artist":{"label":"Dev"},"id":{"label":"u","attributes":{"im:id":` + id + `,"im:bundleId":"b"}}}`
	}
	cases := map[string]string{
		"escaped name":        `{"feed":{"entry":[` + e(`"Caf\u00e9 \"Q\" \\ \/ \n"`, `"1"`) + `]}}`,
		"surrogate pair":      `{"feed":{"entry":[` + e(`"\ud83d\ude00 and \ud83d alone"`, `"1"`) + `]}}`,
		"invalid utf-8":       "{\"feed\":{\"entry\":[" + e("\"bad \xff\xfe name\"", `"1"`) + "]}}",
		"utf-8 name":          `{"feed":{"entry":[` + e(`"Télégram 电报"`, `"1"`) + `]}}`,
		"raw control char":    "{\"feed\":{\"entry\":[" + e("\"tab\there\"", `"1"`) + "]}}",
		"bad escape":          `{"feed":{"entry":[` + e(`"a\x"`, `"1"`) + `]}}`,
		"short unicode":       `{"feed":{"entry":[` + e(`"a\u12"`, `"1"`) + `]}}`,
		"null name":           `{"feed":{"entry":[` + e(`null`, `"1"`) + `]}}`,
		"numeric id":          `{"feed":{"entry":[` + e(`"X"`, `1`) + `]}}`,
		"null id":             `{"feed":{"entry":[` + e(`"X"`, `null`) + `]}}`,
		"single object":       `{"feed":{"entry":` + e(`"X"`, `"1"`) + `}}`,
		"empty array":         `{"feed":{"entry":[]}}`,
		"null entry":          `{"feed":{"entry":null,"id":{"label":"u"}}}`,
		"null element":        `{"feed":{"entry":[null,` + e(`"X"`, `"1"`) + `]}}`,
		"string entry":        `{"feed":{"entry":"nope"}}`,
		"no feed":             `{"results":[]}`,
		"feed null":           `{"feed":null}`,
		"feed without entry":  `{"feed":{"id":{"label":"u"}}}`,
		"feed empty":          `{"feed":{}}`,
		"feed id string":      `{"feed":{"id":"u","entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"case-folded key":     `{"Feed":{"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"case-folded im:name": `{"feed":{"entry":[{"IM:NAME":{"label":"Y"},"id":{"attributes":{"im:id":"1"}}}]}}`,
		"kelvin-folded key":   "{\"feed\":{\"entry\":[{\"im:name\":{\"label\":\"Y\"},\"id\":{\"attributes\":{\"im:id\":\"1\",\"im:bundleId\":\"b\"}},\"\u017fkip\":1}]}}",
		"duplicate name":      `{"feed":{"entry":[{"im:name":{"label":"A"},"im:name":{"label":"B"},"id":{"attributes":{"im:id":"1"}}}]}}`,
		"escaped key":         `{"feed":{"entry":[{"im\u003aname":{"label":"A"},"id":{"attributes":{"im:id":"1"}}}]}}`,
		"duplicate app":       `{"feed":{"entry":[` + e(`"X"`, `"1"`) + `,` + e(`"Y"`, `"1"`) + `]}}`,
		"non-numeric app":     `{"feed":{"entry":[` + e(`"X"`, `"abc"`) + `]}}`,
		"no attributes":       `{"feed":{"entry":[{"im:name":{"label":"X"},"id":{"label":"u"}}]}}`,
		"numbers skipped":     `{"feed":{"n":[0,-1,1.5,2e10,-0.0e-3,1E+2],"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"leading zero":        `{"feed":{"n":01,"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"bare minus":          `{"feed":{"n":-,"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"dot without digits":  `{"feed":{"n":1.,"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"literals":            `{"feed":{"a":true,"b":false,"c":null,"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"bad literal":         `{"feed":{"a":tru,"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"trailing garbage":    `{"feed":{"entry":[` + e(`"X"`, `"1"`) + `]}} x`,
		"trailing space":      "{\"feed\":{\"entry\":[" + e(`"X"`, `"1"`) + "]}} \n\t",
		"leading space":       " \r\n{\"feed\":{\"entry\":[" + e(`"X"`, `"1"`) + "]}}",
		"trailing comma":      `{"feed":{"entry":[` + e(`"X"`, `"1"`) + `,]}}`,
		"top-level array":     `[{"feed":{}}]`,
		"bom":                 "\xef\xbb\xbf{\"feed\":{\"entry\":[" + e(`"X"`, `"1"`) + "]}}",
		"deep nesting":        `{"feed":{"x":` + string(bytes.Repeat([]byte("["), 100)) + string(bytes.Repeat([]byte("]"), 100)) + `,"entry":[` + e(`"X"`, `"1"`) + `]}}`,
		"html":                `<!DOCTYPE html><html></html>`,
		"empty":               ``,
	}
	for name, body := range cases {
		sameAsReference(t, name, []byte(body))
	}
}

// TestScanRSSTruncatedAndFlipped cuts a real feed at many points and flips
// bytes in it: each variant reads as the reference reads it.
func TestScanRSSTruncatedAndFlipped(t *testing.T) {
	body := fixtures.Read(fixtures.RSSEnvelopeUS)
	for n := 0; n < len(body); n += 7 {
		sameAsReference(t, fmt.Sprintf("cut at %d", n), body[:n])
	}
	for i := 0; i < len(body); i += 11 {
		for _, c := range []byte{'"', '\\', '{', '}', '[', ']', ',', ':', '0', 'x', 0x01, 0xff} {
			b := bytes.Clone(body)
			b[i] = c
			sameAsReference(t, fmt.Sprintf("byte %d = %q", i, c), b)
		}
	}
}

func FuzzScanRSS(f *testing.F) {
	f.Add(fixtures.Read(fixtures.RSSEnvelopeUS))
	f.Add([]byte(`{"feed":{"entry":{"im:name":{"label":"X"},"id":{"attributes":{"im:id":"1"}}}}}`))
	f.Add([]byte(`{"feed":{"entry":[{"im:name":{"label":"\u00e9"},"id":{"attributes":{"im:id":"12"}}}],"id":{"label":"u"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) { sameAsReference(t, "fuzz", b) })
}

// BenchmarkParseRSS compares the one-pass scan with the encoding/json
// reading it replaces, on a full 100-app feed.
func BenchmarkParseRSS(b *testing.B) {
	body := fakeRSS(b)
	for name, parse := range map[string]func([]byte) ([]chart.Entry, error){"scan": ParseRSS, "encoding-json": referenceRSS} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := parse(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
