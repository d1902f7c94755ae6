package googleplay

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/internal/fixtures"
	"github.com/rankpulse/rankpulse/scrapers"
)

func parseAll(t testing.TB, body []byte) []App {
	t.Helper()
	frames, err := ParseFrames(body)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := FindPayload(frames, RPC, len(body))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := ParsePayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	return apps
}

func TestParseRealRecording(t *testing.T) {
	body := fixtures.Read(fixtures.PlayTopFreeGame)
	frames, err := ParseFrames(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames, want 3 (wrb.fr, di, e)", len(frames))
	}
	apps := parseAll(t, body)
	if len(apps) != 100 {
		t.Fatalf("%d apps, want 100", len(apps))
	}
	for _, w := range []struct {
		rank           int
		id, title, dev string
		score          float64
		priceMicros    int64
	}{
		{1, "com.oakever.meowdoku", "Meowdoku: Brain Puzzle Games", "Oakever Games", 4.6152463, 0},
		{2, "com.moonactive.holestars", "Hole Stars: Puzzle Game", "Moon Active", 4.8056793, 0},
		{50, "jp.pokemon.pokemonchampions", "Pokémon Champions", "The Pokémon Company", 4.684515, 0},
		{100, "com.media720.games2020", "Offline Games No WiFi internet", "Fun Offline Games", 4.5776186, 0},
	} {
		a := apps[w.rank-1]
		if a.ID != w.id || a.Title != w.title || a.Developer != w.dev || a.Score != w.score || a.PriceMicros != w.priceMicros {
			t.Errorf("#%d = %+v, want %+v", w.rank, a, w)
		}
	}
	entries := Entries(apps)
	if entries[49].Rank != 50 || entries[49].AppID != "jp.pokemon.pokemonchampions" || entries[49].Name != "Pokémon Champions" {
		t.Fatalf("entry #50 = %+v", entries[49])
	}
}

func TestParseDerivedFirstFive(t *testing.T) {
	apps := parseAll(t, fixtures.Read(fixtures.PlayFirst5))
	if len(apps) != 5 || apps[0].ID != "com.oakever.meowdoku" || apps[4].ID == "" {
		t.Fatalf("apps = %+v", apps)
	}
}

func TestFramingErrors(t *testing.T) {
	real := fixtures.Read(fixtures.PlayFirst5)
	shortened := bytes.Replace(real, []byte("\n46"), []byte("\n45"), 1)
	if bytes.Equal(shortened, real) {
		t.Fatal("test setup: no length line to shorten")
	}
	tests := []struct {
		name, path, want string
		body             []byte
		truncated        bool
	}{
		{"NoPrefix", "body", "missing the )]}' prefix", []byte(`[["wrb.fr"]]`), false},
		{"HTML", "body", "missing the )]}' prefix", []byte(`<!doctype html><title>Sorry</title>`), false},
		{"NoFrames", "body", "no frames", []byte(")]}'\n\n"), false},
		{"BadLength", "frame 1", "want a length line", []byte(")]}'\n\nabc\n[]\n"), false},
		{"ShortenedLength", "frame 1", "declares length 45", shortened, false},
		{"TruncatedMidFrame", "frame 1", "no end of line", real[:len(real)/2], true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFrames(tt.body)
			var pe *scrapers.PathError
			if !errors.As(err, &pe) || pe.Path != tt.path || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want path %q and %q", err, tt.path, tt.want)
			}
			if errors.Is(err, ErrTruncated) != tt.truncated {
				t.Fatalf("errors.Is(err, ErrTruncated) = %v, want %v", !tt.truncated, tt.truncated)
			}
		})
	}
}

func TestFindPayloadErrors(t *testing.T) {
	frames, _ := ParseFrames(fixtures.Read(fixtures.PlayFirst5))
	if _, err := FindPayload(frames[1:], RPC, 0); err == nil || !strings.Contains(err.Error(), `no ["wrb.fr","vyAe2",…] envelope in 2 frames`) {
		t.Fatalf("missing envelope: %v", err)
	}
	nullPayload := [][]byte{[]byte(`[["wrb.fr","vyAe2",null,null,null,[3],"generic"]]`)}
	if _, err := FindPayload(nullPayload, RPC, 0); err == nil || !strings.Contains(err.Error(), "without a payload (error [3])") {
		t.Fatalf("null payload: %v", err)
	}
	notJSON, err := ParseFrames([]byte(")]}'\n\n5\n[[x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FindPayload(notJSON, RPC, 0); err == nil || !strings.Contains(err.Error(), "frame 1: want a JSON list of envelopes") {
		t.Fatalf("frame not JSON: %v", err)
	}
	body := fixtures.Read(fixtures.PlayFirst5)
	if _, err := FindPayload(frames, RPC, len(body)+10); !errors.Is(err, ErrTruncated) {
		t.Fatalf("size mismatch with the e frame: %v", err)
	}
}

// payloadOf returns the real recording's payload, decoded.
func payloadOf(t testing.TB) []any {
	t.Helper()
	frames, err := ParseFrames(fixtures.Read(fixtures.PlayFirst5))
	if err != nil {
		t.Fatal(err)
	}
	p, err := FindPayload(frames, RPC, 0)
	if err != nil && !errors.Is(err, ErrTruncated) {
		t.Fatal(err)
	}
	if p == nil {
		var env [][]any
		json.Unmarshal(frames[0], &env)
		p = []byte(env[0][2].(string))
	}
	var v []any
	if err := json.Unmarshal(p, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPayloadDrift(t *testing.T) {
	apps := func(v []any) []any { return v[0].([]any)[1].([]any)[0].([]any)[28].([]any) }
	tests := []struct {
		name   string
		mutate func(v []any) any
		path   string
		want   string
	}{
		{"ListMovedOneLevel", func(v []any) any { l := apps(v); l[0] = []any{l[0]}; return v },
			"payload[0][1][0][28][0][0][0][0][0]", "want a string, got an array"},
		{"TitleWrongType", func(v []any) any { apps(v)[0].([]any)[0].([]any)[0].([]any)[3] = 42; return v },
			"payload[0][1][0][28][0][0][0][3]", "want a string, got a number"},
		{"IDNotAPackage", func(v []any) any {
			apps(v)[0].([]any)[2].([]any)[0].([]any)[0].([]any)[0] = "not a package"
			return v
		}, "payload[0][1][0][28][0][2][0][0][0]", `"not a package" is not a package name`},
		{"ListGone", func(v []any) any { v[0].([]any)[1].([]any)[0].([]any)[28] = nil; return v },
			"payload[0][1][0][28]", "want an array, got null"},
		{"RootObject", func(v []any) any { return map[string]any{"apps": v} },
			"payload", "want an array, got an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := json.Marshal(tt.mutate(payloadOf(t)))
			_, err := ParsePayload(b)
			var pe *scrapers.PathError
			if !errors.As(err, &pe) || pe.Path != tt.path || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want path %s and %q", err, tt.path, tt.want)
			}
			if errors.Is(err, ErrNoChart) {
				t.Fatal("drift taken for an empty chart")
			}
		})
	}
}

func TestNoChartOnlyWhenUnambiguous(t *testing.T) {
	if _, err := ParsePayload([]byte(`[[null,null,null,null,null,null,[]]]`)); !errors.Is(err, ErrNoChart) {
		t.Fatalf("payload[0][1] null: %v, want ErrNoChart", err)
	}
	for _, p := range []string{`[]`, `[null]`, `[[null]]`, `[[null,[]]]`, `null`} {
		if _, err := ParsePayload([]byte(p)); err == nil || errors.Is(err, ErrNoChart) {
			t.Errorf("payload %s: %v; want a drift error, not an empty chart", p, err)
		}
	}
}

func TestRequestBodyMatchesTheRecordedRequest(t *testing.T) {
	// The start and end of the f.req google-play-scraper sends (lib/list.js),
	// with which the recording was made.
	b := string(RequestBody(100, "topselling_free", "GAME"))
	start := "f.req=%5B%5B%5B%22vyAe2%22%2C%22%5B%5Bnull%2C%5B%5B8%2C%5B20%2C100%5D%5D%2Ctrue%2Cnull%2C%5B64%2C1%2C195"
	end := "%5B%5B2%2C100%5D%2C%5B%5B1%2C5%2C7%2C4%2C13%2C16%2C12%2C18%5D%5D%5D%5D%5D%5D%2Cnull%2Cnull%2C%5B%5B%5B1%2C2%5D%2C%5B10%2C8%2C9%5D%2C%5B%5D%2C%5B%5D%5D%5D%5D%2C%5B2%2C%5C%22topselling_free%5C%22%2C%5C%22GAME%5C%22%5D%5D%5D%22%2Cnull%2C%22generic%22%5D%5D%5D&at=AFSRYlx8XZfN8-O-IKASbNBDkB6T%3A1655531200971&"
	if !strings.HasPrefix(b, start) || !strings.HasSuffix(b, end) {
		t.Fatalf("request body differs from the recorded one:\n%.300s…", b)
	}
	n, coll, cat, err := ParseRequestBody([]byte(b))
	if err != nil || n != 100 || coll != "topselling_free" || cat != "GAME" {
		t.Fatalf("round trip: %d %q %q %v", n, coll, cat, err)
	}
	u := RequestURL("https://play.google.com", "en", "tr")
	if !strings.HasPrefix(u, "https://play.google.com/_/PlayStoreUi/data/batchexecute?rpcids=vyAe2&source-path=%2Fstore%2Fapps&") || !strings.HasSuffix(u, "&rt=c&hl=en&gl=tr") {
		t.Fatalf("URL = %s", u)
	}
}

func FuzzParseFrames(f *testing.F) {
	f.Add(fixtures.Read(fixtures.PlayFirst5))
	f.Add([]byte(")]}'\n\n26\n[[\"e\",4,null,null,50]]\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		frames, err := ParseFrames(body)
		if err != nil {
			if !errors.As(err, new(*scrapers.PathError)) {
				t.Fatalf("error %v is not a format error", err)
			}
			return
		}
		// ParseFrames only frames: every frame is one line whose length
		// matches its declaration (checked inside); the JSON is checked by
		// FindPayload, which must refuse any frame that is not JSON.
		for _, fr := range frames {
			if bytes.IndexByte(fr, '\n') >= 0 {
				t.Fatalf("frame %q spans lines", fr)
			}
		}
		if _, err := FindPayload(frames, "vyAe2", 0); err == nil {
			for _, fr := range frames {
				if !json.Valid(fr) {
					t.Fatalf("frame %q accepted but not JSON", fr)
				}
			}
		}
	})
}

func FuzzParsePayload(f *testing.F) {
	frames, _ := ParseFrames(fixtures.Read(fixtures.PlayFirst5))
	var env [][]any
	json.Unmarshal(frames[0], &env)
	f.Add([]byte(env[0][2].(string)))
	f.Add([]byte(`[[null,[[null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,null,[[[[["a.b",7],null,null,"T"]]]]]]]]`))
	f.Add([]byte(`[[null,null]]`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		apps, err := ParsePayload(payload)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range apps {
			if a.Title == "" || !packageNameRe.MatchString(a.ID) || seen[a.ID] {
				t.Fatalf("accepted a bad app: %+v", a)
			}
			seen[a.ID] = true
		}
	})
}

func BenchmarkParseChart(b *testing.B) {
	body := fixtures.Read(fixtures.PlayTopFreeGame)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		frames, err := ParseFrames(body)
		if err != nil {
			b.Fatal(err)
		}
		payload, err := FindPayload(frames, RPC, len(body))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParsePayload(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainJSONDecode is the baseline: decoding the same answer with
// encoding/json into interface values (the payload frame, then the payload
// string inside it), reading nothing out of it.
func BenchmarkPlainJSONDecode(b *testing.B) {
	body := fixtures.Read(fixtures.PlayTopFreeGame)
	line := bytes.Split(body, []byte("\n"))[3]
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var env [][]any
		if err := json.Unmarshal(line, &env); err != nil {
			b.Fatal(err)
		}
		var payload any
		if err := json.Unmarshal([]byte(env[0][2].(string)), &payload); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFrameWithCorruptBytesIsAFormatError(t *testing.T) {
	// Bytes overwritten in transit keep the declared length (an invalid
	// UTF-8 byte counts as one UTF-16 unit) and so pass the framing; the
	// JSON check must refuse them rather than read ranks out of them.
	body := fixtures.Read(fixtures.PlayFirst5)
	i := bytes.Index(body, []byte(`https:`))
	if i < 0 {
		t.Fatal("fixture has no URL to corrupt")
	}
	copy(body[i:], "\x00\x00\x00\x80")
	frames, err := ParseFrames(body)
	if err != nil {
		t.Fatalf("framing should still hold: %v", err)
	}
	_, err = FindPayload(frames, "vyAe2", len(body))
	if !errors.As(err, new(*scrapers.PathError)) || !strings.Contains(err.Error(), "frame 1") {
		t.Fatalf("err = %v; want a format error naming frame 1", err)
	}
}
