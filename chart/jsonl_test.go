package chart_test

import (
	"bytes"
	"errors"
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
