package appstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/scrapers"
)

// ErrEmpty marks a well-formed response that lists no apps. The stores do
// that when a chart is briefly unavailable as well as when it is really
// empty, so an empty chart is recorded as incomplete, never as "every app
// left".
var ErrEmpty = errors.New("the chart lists no apps")

// validAppID reports whether s is an App Store id: 1 to 15 digits (what
// ^[0-9]{1,15}$ matches, without a regexp on the path of every entry).
func validAppID(s string) bool {
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decodeJSON decodes body into v, reporting a truncated or non-JSON body
// clearly.
func decodeJSON(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) && se.Offset >= int64(len(bytes.TrimRight(body, " \r\n\t"))) || err.Error() == "unexpected end of JSON input" {
			return scrapers.PathErr("$", "truncated JSON (%d bytes): %w", len(body), err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return scrapers.PathErr("$."+te.Field, "got JSON %s, want %s", te.Value, te.Type)
		}
		return scrapers.PathErr("$", "not valid JSON: %w", err)
	}
	return nil
}

// ParseCharts reads a ws/charts response, {"resultIds":["id",…]}, into app
// ids in rank order, at most max of them: the ids past max are not even
// read, so an answer listing 4.3 M ids for a 200-deep chart costs 200.
func ParseCharts(body []byte, max int) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, body, '{', "$"); err != nil {
		return nil, err
	}
	var ids []string
	found := false
	for dec.More() {
		key, err := objectKey(dec, body)
		if err != nil {
			return nil, err
		}
		if key != "resultIds" || found {
			if err := skipValue(dec, body); err != nil {
				return nil, err
			}
			continue
		}
		found = true
		if ids, err = readIDs(dec, body, max); err != nil {
			return nil, err
		}
		if len(ids) == max {
			return ids, nil // the rest is not read
		}
	}
	switch {
	case !found || ids == nil:
		return nil, scrapers.PathErr("resultIds", "missing")
	case len(ids) == 0:
		return nil, scrapers.PathErr("resultIds", "%w", ErrEmpty)
	}
	return ids, nil
}

// readIDs reads the resultIds array, up to max ids; nil for a null.
func readIDs(dec *json.Decoder, body []byte, max int) ([]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, streamErr(err, body, "$.resultIds")
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, scrapers.PathErr("$.resultIds", "got JSON %s, want an array of app ids", tokenKind(tok))
	}
	ids := []string{}
	seen := map[string]bool{}
	for i := 0; dec.More(); i++ {
		if len(ids) == max {
			return ids, nil
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, streamErr(err, body, fmt.Sprintf("resultIds[%d]", i))
		}
		id, err := idString(raw)
		if err != nil {
			return nil, scrapers.PathErr(fmt.Sprintf("resultIds[%d]", i), "%v", err)
		}
		if seen[id] {
			return nil, scrapers.PathErr(fmt.Sprintf("resultIds[%d]", i), "app %s listed twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, streamErr(err, body, "$.resultIds")
	}
	return ids, nil
}

// idString accepts an app id as a JSON string or number of digits.
func idString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", fmt.Errorf("app id %s is neither a string nor a number", raw)
		}
		s = n.String()
	}
	if !validAppID(s) {
		return "", fmt.Errorf("app id %q is not numeric", s)
	}
	return s, nil
}

// App is what the lookup endpoint says about one app.
type App struct {
	ID        string
	Name      string
	Developer string
}

// lookupResult is one result of a lookup answer.
type lookupResult struct {
	Kind       string          `json:"kind"`
	TrackID    json.RawMessage `json:"trackId"`
	TrackName  string          `json:"trackName"`
	ArtistName string          `json:"artistName"`
	SellerName string          `json:"sellerName"`
}

// ParseLookup reads an iTunes lookup response for ids,
// {"resultCount":n,"results":[{"trackId":…,"trackName":…,"artistName":…}]}.
// Results that are not software, or not among ids, are skipped; an answer
// with far more results than ids asked for is refused rather than read to
// its end.
func ParseLookup(body []byte, ids []string) (map[string]App, error) {
	if out, ok := scanLookup(body, ids); ok {
		return out, nil
	}
	return decodeLookup(body, ids)
}

// decodeLookup is ParseLookup's reading through encoding/json's token
// stream, for what scanLookup does not take.
func decodeLookup(body []byte, ids []string) (map[string]App, error) {
	asked := make(map[string]bool, len(ids))
	for _, id := range ids {
		asked[id] = true
	}
	most := 2*len(ids) + 10 // a few apps come back twice (software and mac-software)
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, body, '{', "$"); err != nil {
		return nil, err
	}
	var out map[string]App
	for dec.More() {
		key, err := objectKey(dec, body)
		if err != nil {
			return nil, err
		}
		if key != "results" || out != nil {
			if err := skipValue(dec, body); err != nil {
				return nil, err
			}
			continue
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, streamErr(err, body, "$.results")
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			if tok == nil {
				continue
			}
			return nil, scrapers.PathErr("$.results", "got JSON %s, want an array", tokenKind(tok))
		}
		out = map[string]App{}
		for i := 0; dec.More(); i++ {
			if i == most {
				return nil, scrapers.PathErr("results", "more than %d results for %d ids asked for", most, len(ids))
			}
			var r lookupResult
			if err := dec.Decode(&r); err != nil {
				return nil, streamErr(err, body, fmt.Sprintf("results[%d]", i))
			}
			if r.Kind != "" && r.Kind != "software" && r.Kind != "mac-software" {
				continue
			}
			id, err := idString(r.TrackID)
			if err != nil {
				return nil, scrapers.PathErr(fmt.Sprintf("results[%d].trackId", i), "%v", err)
			}
			if !asked[id] {
				continue
			}
			dev := r.ArtistName
			if dev == "" {
				dev = r.SellerName
			}
			out[id] = App{ID: id, Name: r.TrackName, Developer: dev}
		}
		if _, err := dec.Token(); err != nil { // ]
			return nil, streamErr(err, body, "$.results")
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, streamErr(err, body, "$")
	}
	if out == nil {
		return nil, scrapers.PathErr("results", "missing")
	}
	return out, nil
}

// label is the legacy feed's {"label": "..."} wrapper.
type label struct {
	Label string `json:"label"`
}

// oneOrMany decodes a JSON array, a single object (the feed's XML-to-JSON
// conversion collapses one-element lists) or null.
type oneOrMany[T any] []T

func (m *oneOrMany[T]) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*m = nil
		return nil
	case b[0] == '[':
		var xs []T
		if err := json.Unmarshal(b, &xs); err != nil {
			return err
		}
		*m = xs
		return nil
	case b[0] == '{':
		var x T
		if err := json.Unmarshal(b, &x); err != nil {
			return err
		}
		*m = []T{x}
		return nil
	}
	return fmt.Errorf("want an object or an array, got %.20s", b)
}

type rssEntry struct {
	Name   *label `json:"im:name"`
	Artist *label `json:"im:artist"`
	ID     *rssID `json:"id"`
}

type rssID struct {
	Label      string    `json:"label"`
	Attributes *rssAttrs `json:"attributes"`
}

type rssAttrs struct {
	ID       string `json:"im:id"`
	BundleID string `json:"im:bundleId"`
}

// ParseRSS reads a legacy iTunes RSS feed ({"feed":{"entry":[…]}}) into
// entries in rank order. "entry" may be an array, a single object (a
// one-app chart) or absent (no apps: ErrEmpty).
func ParseRSS(body []byte) ([]chart.Entry, error) {
	entries, ok := scanRSS(body)
	if !ok { // odd or broken: encoding/json's reading, and its errors
		var err error
		if entries, err = decodeRSS(body); err != nil {
			return nil, err
		}
	}
	return rssEntries(entries)
}

// decodeRSS is ParseRSS's reading of the body through encoding/json, for
// what scanRSS does not take.
func decodeRSS(body []byte) ([]rssEntry, error) {
	var v struct {
		Feed *struct {
			Entry *json.RawMessage `json:"entry"`
			ID    *label           `json:"id"`
		} `json:"feed"`
	}
	if err := decodeJSON(body, &v); err != nil {
		return nil, err
	}
	if v.Feed == nil {
		return nil, scrapers.PathErr("feed", "missing")
	}
	if v.Feed.Entry == nil {
		if v.Feed.ID == nil {
			return nil, scrapers.PathErr("feed", "neither entry nor id: not an RSS feed")
		}
		return nil, scrapers.PathErr("feed.entry", "absent: %w", ErrEmpty)
	}
	var entries oneOrMany[rssEntry]
	if err := json.Unmarshal(*v.Feed.Entry, &entries); err != nil {
		return nil, scrapers.PathErr("feed.entry", "%v", err)
	}
	return entries, nil
}

// rssEntries checks a feed's entries and turns them into chart entries.
func rssEntries(entries []rssEntry) ([]chart.Entry, error) {
	if len(entries) == 0 {
		return nil, scrapers.PathErr("feed.entry", "%w", ErrEmpty)
	}
	out := make([]chart.Entry, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		p := "feed.entry[" + strconv.Itoa(i) + "]"
		if e.ID == nil || e.ID.Attributes == nil {
			return nil, scrapers.PathErr(p+".id.attributes", "missing")
		}
		if !validAppID(e.ID.Attributes.ID) {
			return nil, scrapers.PathErr(p+".id.attributes.im:id", "app id %q is not numeric", e.ID.Attributes.ID)
		}
		if e.Name == nil {
			return nil, scrapers.PathErr(p+".im:name", "missing")
		}
		id := e.ID.Attributes.ID
		if seen[id] {
			return nil, scrapers.PathErr(p, "app %s listed twice", id)
		}
		seen[id] = true
		dev := ""
		if e.Artist != nil {
			dev = e.Artist.Label
		}
		out = append(out, chart.Entry{Rank: i + 1, AppID: id, Name: e.Name.Label, Developer: dev})
	}
	return out, nil
}

// ParseMarketing reads a marketing-tools RSS v2 feed
// ({"feed":{"results":[{"id","name","artistName"}]}}) into entries.
func ParseMarketing(body []byte) ([]chart.Entry, error) {
	var v struct {
		Feed *struct {
			Results *[]struct {
				ID         json.RawMessage `json:"id"`
				Name       *string         `json:"name"`
				ArtistName string          `json:"artistName"`
			} `json:"results"`
		} `json:"feed"`
	}
	if err := decodeJSON(body, &v); err != nil {
		return nil, err
	}
	if v.Feed == nil {
		return nil, scrapers.PathErr("feed", "missing")
	}
	if v.Feed.Results == nil {
		return nil, scrapers.PathErr("feed.results", "missing")
	}
	if len(*v.Feed.Results) == 0 {
		return nil, scrapers.PathErr("feed.results", "%w", ErrEmpty)
	}
	out := make([]chart.Entry, 0, len(*v.Feed.Results))
	seen := map[string]bool{}
	for i, r := range *v.Feed.Results {
		p := "feed.results[" + strconv.Itoa(i) + "]"
		id, err := idString(r.ID)
		if err != nil {
			return nil, scrapers.PathErr(p+".id", "%v", err)
		}
		if r.Name == nil {
			return nil, scrapers.PathErr(p+".name", "missing")
		}
		if seen[id] {
			return nil, scrapers.PathErr(p, "app %s listed twice", id)
		}
		seen[id] = true
		out = append(out, chart.Entry{Rank: i + 1, AppID: id, Name: *r.Name, Developer: r.ArtistName})
	}
	return out, nil
}
