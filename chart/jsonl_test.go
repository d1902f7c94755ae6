package chart_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/internal/fixtures"
)

const good = `{"time":"2021-01-07T10:00:00Z","store":"appstore","country":"tr","chart":"top-free","category":"all","source":"charts","complete":true,"depth":2,"entries":[{"rank":1,"app_id":"1487184012","name":"BiP"},{"rank":2,"app_id":"874139669","name":"Signal"}]}`

// readAll reads every line, collecting snapshots and line errors.
func readAll(t *testing.T, in string) ([]chart.Snapshot, []*chart.LineError) {
	t.Helper()
	r := chart.NewReader(strings.NewReader(in))
	var snaps []chart.Snapshot
	var bad []*chart.LineError
	for {
		s, err := r.Next()
		if err == io.EOF {
			return snaps, bad
		}
		var le *chart.LineError
		if !errors.As(err, &le) && err != nil {
			t.Fatalf("line %d: %v is not a LineError", r.Line(), err)
		}
		if le != nil {
			bad = append(bad, le)
			continue
		}
		snaps = append(snaps, s)
	}
}

func TestReaderReportsEachBadLineAndGoesOn(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"truncated", good[:len(good)/2], "not a snapshot JSON object: unexpected EOF"},
		{"not JSON", "<html><body>captcha</body></html>", "not a snapshot JSON object: invalid character '<'"},
		{"wrong type", strings.Replace(good, `"rank":1`, `"rank":"1"`, 1), "cannot unmarshal string into Go struct field Entry.entries.rank of type int"},
		{"misspelt key", strings.Replace(good, `"depth"`, `"dept"`, 1), `unknown field "dept"`},
		{"two values", good + " {}", "more than one JSON value on the line"},
		{"array", "[1,2]", "cannot unmarshal array"},
		{"empty object", "{}", "time is missing"},
		{"bad time", strings.Replace(good, `"2021-01-07T10:00:00Z"`, `"yesterday"`, 1), "parsing time"},
		{"bad store", strings.Replace(good, `"appstore"`, `"itunes"`, 1), `store "itunes" is not one of appstore, googleplay`},
		{"upper-case country", strings.Replace(good, `"tr"`, `"TR"`, 1), `country "TR" is not a lowercase two-letter code`},
		{"rank zero", strings.Replace(good, `"rank":1`, `"rank":0`, 1), "entries[0]: rank 0 is not a rank (ranks start at 1)"},
		{"ranks out of order", strings.Replace(good, `"rank":2`, `"rank":1`, 1), "entries[1]: rank 1 does not follow rank 1"},
		{"duplicate app", strings.Replace(good, `"874139669"`, `"1487184012"`, 1), "entries[1]: app 1487184012 already listed at entries[0]"},
		{"empty app id", strings.Replace(good, `"874139669"`, `""`, 1), "entries[1]: app_id is empty"},
		// Snapshots no store could have given (issue 11: they were stored).
		{"unknown country", strings.Replace(good, `"tr"`, `"zz"`, 1), `country "zz" is not a storefront of appstore`},
		{"country of the other store only", strings.Replace(good, `"appstore","country":"tr"`, `"googleplay","country":"cn"`, 1), `country "cn" is not a storefront of googleplay`},
		{"exponent depth", strings.Replace(good, `"depth":2`, `"depth":1e12`, 1), "cannot unmarshal number 1e12 into Go struct field Snapshot.depth of type int"},
		{"absurd depth", strings.Replace(good, `"depth":2`, `"depth":1000000000000`, 1), "depth 1000000000000 is deeper than any store's chart (at most 200)"},
		{"depth past the stores'", strings.Replace(good, `"depth":2`, `"depth":201`, 1), "depth 201 is deeper than any store's chart (at most 200)"},
		{"complete and deeper than its entries", strings.Replace(good, `"depth":2`, `"depth":200`, 1), "complete with 2 entries but depth 200: a chart read in full lists every rank down to its depth (set depth to 2, or complete: false)"},
		{"complete with null entries", emptyLine("appstore", true, 200, "null"), "complete is true but entries is null or missing"},
		{"complete without entries", strings.Replace(emptyLine("googleplay", true, 200, "null"), `,"entries":null`, "", 1), "complete is true but entries is null or missing"},
		{"complete empty App Store chart", emptyLine("appstore", true, 200, "[]"), "a complete App Store chart with no entries"},
		{"complete empty chart without depth", strings.Replace(emptyLine("googleplay", true, 200, "[]"), `,"depth":200`, "", 1), "a complete chart with no entries needs the depth"},
		{"complete with a gap", strings.Replace(strings.Replace(good, `"rank":2`, `"rank":3`, 1), `"depth":2`, `"depth":3`, 1), "entries[1]: rank 3 where 2 was expected: a complete snapshot lists every rank from 1"},
		{"complete not from 1", strings.Replace(strings.Replace(strings.Replace(good, `"rank":2`, `"rank":4`, 1), `"rank":1`, `"rank":3`, 1), `"depth":2,`, "", 1), "entries[0]: rank 3 where 1 was expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good + "\n\n" + tt.line + "\n" + good + "\n"
			snaps, bad := readAll(t, in)
			if len(snaps) != 2 {
				t.Errorf("%d good snapshots read around the bad line, want 2", len(snaps))
			}
			if len(bad) != 1 {
				t.Fatalf("%d bad lines reported, want 1", len(bad))
			}
			if bad[0].Line != 3 || !strings.Contains(bad[0].Error(), tt.want) {
				t.Errorf("error %q at line %d, want %q at line 3", bad[0], bad[0].Line, tt.want)
			}
			// Decoding failures say the line is not a snapshot; the rest
			// are snapshots that fail validation.
			if decodeErr := strings.Contains(tt.want, "not a snapshot") || strings.Contains(tt.want, "unmarshal") || strings.Contains(tt.want, "unknown field") ||
				strings.Contains(tt.want, "parsing time") || strings.Contains(tt.want, "JSON value"); decodeErr == errors.Is(bad[0], chart.ErrInvalid) {
				t.Errorf("ErrInvalid wrapped: %v, for %v", errors.Is(bad[0], chart.ErrInvalid), bad[0])
			}
		})
	}
}

// emptyLine is a snapshot line without entries.
func emptyLine(store string, complete bool, depth int, entries string) string {
	return fmt.Sprintf(`{"time":"2021-01-07T10:00:00Z","store":%q,"country":"us","chart":"top-free","category":"all","source":"x","complete":%v,"depth":%d,"entries":%s}`, store, complete, depth, entries)
}

// What a store can give passes: Google Play's "no such chart" (complete,
// entries []), a failed read (incomplete, no entries or null), a short read
// with gaps, and a complete chart whose depth is left out.
func TestReaderTakesWhatAStoreCanGive(t *testing.T) {
	lines := []string{
		emptyLine("googleplay", true, 200, "[]"),
		emptyLine("appstore", false, 200, "null"),
		emptyLine("appstore", false, 200, "[]"),
		strings.Replace(strings.Replace(strings.Replace(good, `"complete":true`, `"complete":false`, 1), `"rank":2`, `"rank":7`, 1), `"depth":2`, `"depth":200`, 1),
		strings.Replace(good, `"depth":2,`, "", 1),
		strings.Replace(strings.Replace(good, `"depth":2`, `"depth":200`, 1), `"complete":true`, `"complete":false`, 1), // a short read
	}
	snaps, bad := readAll(t, strings.Join(lines, "\n"))
	if len(bad) != 0 || len(snaps) != len(lines) {
		t.Fatalf("%d read, bad: %v", len(snaps), bad)
	}
	if s := snaps[0]; !s.Complete || s.Depth != 200 || len(s.Entries) != 0 {
		t.Errorf("Play's empty chart: %+v", s)
	}
	if s := snaps[4]; s.Depth != 2 {
		t.Errorf("depth left out: %d, want the number of entries", s.Depth)
	}
}

func TestReaderEdges(t *testing.T) {
	// A last line without a newline is read; a truncated last line is a
	// bad line, not the end of the input.
	snaps, bad := readAll(t, good+"\n"+good)
	if len(snaps) != 2 || len(bad) != 0 {
		t.Errorf("no final newline: %d snapshots, %d bad", len(snaps), len(bad))
	}
	snaps, bad = readAll(t, good+"\n"+good[:40])
	if len(snaps) != 1 || len(bad) != 1 || bad[0].Line != 2 {
		t.Errorf("truncated last line: %d snapshots, bad %v", len(snaps), bad)
	}
	// A byte-order mark on the first line (some editors write one).
	if snaps, bad = readAll(t, "\ufeff"+good+"\n"); len(snaps) != 1 || len(bad) != 0 {
		t.Errorf("byte-order mark: %d snapshots, bad %v", len(snaps), bad)
	}
	// Nothing at all, or blank lines only.
	if snaps, bad = readAll(t, "\n  \n"); len(snaps) != 0 || len(bad) != 0 {
		t.Errorf("blank input: %d snapshots, bad %v", len(snaps), bad)
	}
	// Slot times are whole seconds.
	snaps, _ = readAll(t, strings.Replace(good, "10:00:00Z", "10:00:00.75Z", 1))
	if len(snaps) != 1 || snaps[0].Time.Nanosecond() != 0 {
		t.Errorf("sub-second time kept: %v", snaps)
	}
}

// The real history round-trips through Writer and Reader unchanged.
func TestJSONLRoundTripOfRealHistory(t *testing.T) {
	in := fixtures.Read(fixtures.History)
	snaps, bad := readAll(t, string(in))
	if len(bad) != 0 || len(snaps) < 200 {
		t.Fatalf("real history: %d snapshots, %d bad lines", len(snaps), len(bad))
	}
	var out bytes.Buffer
	w := chart.NewWriter(&out)
	for i := range snaps {
		if err := w.Write(&snaps[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	again, bad := readAll(t, out.String())
	if len(bad) != 0 || len(again) != len(snaps) {
		t.Fatalf("re-read %d snapshots (%d bad), want %d", len(again), len(bad), len(snaps))
	}
	for i := range snaps {
		a, b := snaps[i], again[i]
		if !a.Time.Equal(b.Time) || a.Key() != b.Key() || len(a.Entries) != len(b.Entries) || a.Complete != b.Complete || a.Depth != b.Depth {
			t.Fatalf("snapshot %d changed: %s vs %s", i, a.Key(), b.Key())
		}
		for j := range a.Entries {
			if a.Entries[j] != b.Entries[j] {
				t.Fatalf("snapshot %d entry %d: %+v vs %+v", i, j, a.Entries[j], b.Entries[j])
			}
		}
	}
}
