package influx

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/chart"
)

func unnamedChart(at time.Time, n int) chart.Snapshot {
	s := chart.Snapshot{Time: at, Store: "appstore", Country: "us", Chart: "top-free", Category: "all", Complete: true, Depth: n}
	for r := 1; r <= n; r++ {
		s.Entries = append(s.Entries, chart.Entry{Rank: r, AppID: strconv.Itoa(r)})
	}
	return s
}

func TestPinsSurviveARestartAndADamagedLine(t *testing.T) {
	dir := t.TempDir()
	p, err := openPins(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2021, 1, 7, 18, 7, 0, 0, time.UTC)
	s := unnamedChart(at, 3)
	if err := p.record([]chart.Snapshot{s}); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of an append leaves half a line.
	f, err := os.OpenFile(filepath.Join(dir, pinsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"slot":16100`)
	f.Close()
	p, err = openPins(dir)
	if err != nil {
		t.Fatal(err)
	}
	named := s
	named.Entries = []chart.Entry{{Rank: 1, AppID: "1", Name: "One"}, {Rank: 2, AppID: "9", Name: "Nine"}}
	if got := p.tag(&named, &named.Entries[0]); got != "(unknown) 1" {
		t.Fatalf("tag of a pinned app = %q, want the unknown tag it was first written with", got)
	}
	if got := p.tag(&named, &named.Entries[1]); got != "Nine" {
		t.Fatalf("tag of an app never written unnamed = %q, want its name", got)
	}
	other := named
	other.Time = at.Add(time.Hour)
	if got := p.tag(&other, &other.Entries[0]); got != "One" {
		t.Fatalf("tag at another slot = %q, want the name", got)
	}
}

func TestPinsAreBounded(t *testing.T) {
	dir := t.TempDir()
	p, err := openPins(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2021, 1, 7, 0, 0, 0, 0, time.UTC)
	const per = 200
	for i := range maxPins/per + 5 {
		if err := p.record([]chart.Snapshot{unnamedChart(at.Add(time.Duration(i)*time.Hour), per)}); err != nil {
			t.Fatal(err)
		}
	}
	if p.n > maxPins {
		t.Fatalf("%d pins kept, bound %d", p.n, maxPins)
	}
	first, last := unnamedChart(at, 1), unnamedChart(at.Add(time.Duration(maxPins/per+4)*time.Hour), 1)
	first.Entries[0].Name, last.Entries[0].Name = "A", "A"
	if p.tag(&first, &first.Entries[0]) != "A" || p.tag(&last, &last.Entries[0]) != "(unknown) 1" {
		t.Fatal("the oldest pins should go first, the newest stay")
	}
	q, err := openPins(dir) // the file was compacted to what is kept
	if err != nil {
		t.Fatal(err)
	}
	if q.n != p.n {
		t.Fatalf("reloaded %d pins, kept %d", q.n, p.n)
	}
}
