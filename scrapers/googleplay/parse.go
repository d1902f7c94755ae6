package googleplay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/scrapers"
)

// A batchexecute response ("rt=c") is the XSSI prefix )]}' and then frames:
// a decimal length, a newline, one line of JSON, a newline. The length
// counts UTF-16 code units of "\n" + JSON + "\n". Each frame's JSON is a list
// of envelopes; the chart comes in ["wrb.fr","vyAe2","<payload JSON as a
// string>",null,null,null,"generic"].

// ErrTruncated marks a body cut short in transfer: a failed read, not a
// changed format.
var ErrTruncated = errors.New("the body is truncated")

// ErrNoChart marks a well-formed answer saying Google has no such chart
// (payload[0][1] is null): an empty chart, not a failure.
var ErrNoChart = errors.New("Google Play has no chart for this country, collection and category")

const xssiPrefix = ")]}'"

// ParseFrames splits a batchexecute body into its frames' lines, checking
// each declared length against the line it frames. It does not parse the
// lines: FindPayload does, and refuses a frame that is not JSON.
func ParseFrames(body []byte) ([][]byte, error) {
	b := bytes.TrimLeft(body, " \t\r\n")
	if !bytes.HasPrefix(b, []byte(xssiPrefix)) {
		return nil, scrapers.PathErr("body", "missing the %s prefix of a batchexecute answer", xssiPrefix)
	}
	b = b[len(xssiPrefix):]
	var frames [][]byte
	for i := 1; ; i++ {
		b = bytes.TrimLeft(b, "\r\n")
		if len(b) == 0 {
			break
		}
		path := "frame " + strconv.Itoa(i)
		n := 0
		for n < len(b) && b[n] >= '0' && b[n] <= '9' {
			n++
		}
		if n == 0 || n > 12 {
			return nil, scrapers.PathErr(path, "want a length line, got %q", b[:min(len(b), 20)])
		}
		declared, _ := strconv.Atoi(string(b[:n]))
		b = b[n:]
		if len(b) == 0 || b[0] != '\n' {
			return nil, scrapers.PathErr(path, "length %d is not followed by a newline: %w", declared, ErrTruncated)
		}
		end := bytes.IndexByte(b[1:], '\n')
		if end < 0 {
			return nil, scrapers.PathErr(path, "no end of line after %d bytes: %w", len(b)-1, ErrTruncated)
		}
		line := b[1 : 1+end]
		if actual := utf16Len(line) + 2; actual != declared {
			return nil, scrapers.PathErr(path, "declares length %d but its line is %d UTF-16 units long", declared, actual)
		}
		frames = append(frames, line)
		b = b[1+end+1:]
	}
	if len(frames) == 0 {
		return nil, scrapers.PathErr("body", "no frames after the %s prefix", xssiPrefix)
	}
	return frames, nil
}

// utf16Len counts the UTF-16 code units of UTF-8 text.
func utf16Len(b []byte) int {
	n := 0
	for len(b) > 0 {
		if b[0] < utf8.RuneSelf {
			n++
			b = b[1:]
			continue
		}
		r, size := utf8.DecodeRune(b)
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		b = b[size:]
	}
	return n
}

// FindPayload returns the payload JSON of the rpc's envelope, wherever it is
// among the frames. It checks the trailing ["e",…,<bytes>] frame, when there
// is one, against bodyLen, the body's size (0: unknown).
func FindPayload(frames [][]byte, rpc string, bodyLen int) ([]byte, error) {
	var payload []byte
	for i, f := range frames {
		var envelopes []any
		if err := json.Unmarshal(f, &envelopes); err != nil {
			return nil, scrapers.PathErr(fmt.Sprintf("frame %d", i+1), "want a JSON list of envelopes: %v", err)
		}
		for j, e := range envelopes {
			env, ok := e.([]any)
			if !ok || len(env) == 0 {
				continue
			}
			kind, _ := env[0].(string)
			path := fmt.Sprintf("frame %d[%d]", i+1, j)
			switch kind {
			case "wrb.fr":
				if id, _ := at(env, 1).(string); id != rpc {
					continue
				}
				switch p := at(env, 2).(type) {
				case string:
					payload = []byte(p)
				case nil:
					code, _ := json.Marshal(at(env, 5))
					return nil, scrapers.PathErr(path+"[2]", "Google answered %s without a payload (error %s)", rpc, code)
				default:
					return nil, scrapers.PathErr(path+"[2]", "want the payload as a string, got %s", typeName(p))
				}
			case "er":
				return nil, scrapers.PathErr(path, "Google answered with an error envelope: %.200s", f)
			case "e":
				if total, ok := at(env, 4).(float64); ok && total > 0 && bodyLen > 0 && int(total) != bodyLen {
					return nil, scrapers.PathErr(path, "the answer says it is %d bytes but %d arrived: %w", int(total), bodyLen, ErrTruncated)
				}
			}
		}
	}
	if payload == nil {
		return nil, scrapers.PathErr("body", "no [\"wrb.fr\",%q,…] envelope in %d frames", rpc, len(frames))
	}
	return payload, nil
}

func at(a []any, i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

// App is one app of a Play chart.
type App struct {
	ID          string
	Title       string
	Developer   string
	Score       float64 // 0 when absent
	PriceMicros int64   // 0: free
}

// Item positions, relative to an app element of the list (the layout
// google-play-scraper has read since 2022 and the 2026-07 recording shows).
var (
	pathAppsList  = []int{0, 1, 0, 28, 0}
	pathEmpty     = []int{0, 1}
	packageNameRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$`)
)

// ParsePayload reads the chart out of the vyAe2 payload: apps in rank order.
// A payload whose [0][1] is null is Google saying there is no such chart
// (ErrNoChart). Anything else unexpected is a PathError naming where the
// layout stopped matching. The payload is decoded once and then walked.
func ParsePayload(payload []byte) ([]App, error) {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, scrapers.PathErr("payload", "not JSON: %v", err)
	}
	root := node{v: v, path: "payload"}
	r0, err := root.index(pathEmpty[0])
	if err != nil {
		return nil, err
	}
	if r01, err := r0.index(pathEmpty[1]); err == nil && r01.v == nil {
		return nil, ErrNoChart
	}
	list, err := root.walk(pathAppsList...)
	if err != nil {
		return nil, err
	}
	items, err := list.array()
	if err != nil {
		return nil, err
	}
	apps := make([]App, 0, len(items))
	seen := make(map[string]bool, len(items))
	for i, raw := range items {
		item := node{v: raw, path: list.path + "[" + strconv.Itoa(i) + "]"}
		a, err := parseApp(item)
		if err != nil {
			return nil, err
		}
		if seen[a.ID] {
			return nil, scrapers.PathErr(item.path, "app %s listed twice", a.ID)
		}
		seen[a.ID] = true
		apps = append(apps, a)
	}
	return apps, nil
}

func parseApp(item node) (App, error) {
	head, err := item.index(0)
	if err != nil {
		return App{}, err
	}
	var a App
	id, err := head.walk(0, 0)
	if err != nil {
		return App{}, err
	}
	if a.ID, err = id.str(); err != nil {
		return App{}, err
	}
	if !packageNameRe.MatchString(a.ID) {
		return App{}, scrapers.PathErr(id.path, "%q is not a package name", a.ID)
	}
	title, err := head.index(3)
	if err != nil {
		return App{}, err
	}
	if a.Title, err = title.str(); err != nil {
		return App{}, err
	}
	if a.Title == "" {
		return App{}, scrapers.PathErr(title.path, "empty title")
	}
	if dev, err := head.index(14); err == nil && dev.v != nil {
		if a.Developer, err = dev.str(); err != nil {
			return App{}, err
		}
	}
	// Optional, cheap: score [4][1] and price [8][1][0][0]; left zero when
	// the layout differs.
	if s, err := head.walk(4, 1); err == nil {
		a.Score, _ = s.v.(float64)
	}
	if p, err := head.walk(8, 1, 0, 0); err == nil {
		f, _ := p.v.(float64)
		a.PriceMicros = int64(f)
	}
	return a, nil
}

// node is a decoded JSON value and its path.
type node struct {
	v    any
	path string
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

func (n node) array() ([]any, error) {
	a, ok := n.v.([]any)
	if !ok {
		return nil, scrapers.PathErr(n.path, "want an array, got %s", typeName(n.v))
	}
	return a, nil
}

func (n node) index(i int) (node, error) {
	a, err := n.array()
	if err != nil {
		return node{}, err
	}
	p := n.path + "[" + strconv.Itoa(i) + "]"
	if i >= len(a) {
		return node{}, scrapers.PathErr(p, "missing (the array has %d elements)", len(a))
	}
	return node{v: a[i], path: p}, nil
}

func (n node) walk(idx ...int) (node, error) {
	cur := n
	for _, i := range idx {
		var err error
		if cur, err = cur.index(i); err != nil {
			return node{}, err
		}
	}
	return cur, nil
}

func (n node) str() (string, error) {
	s, ok := n.v.(string)
	if !ok {
		return "", scrapers.PathErr(n.path, "want a string, got %s", typeName(n.v))
	}
	return s, nil
}

// Entries turns apps into chart entries, rank = position.
func Entries(apps []App) []chart.Entry {
	out := make([]chart.Entry, len(apps))
	for i, a := range apps {
		out[i] = chart.Entry{Rank: i + 1, AppID: a.ID, Name: a.Title, Developer: a.Developer}
	}
	return out
}
