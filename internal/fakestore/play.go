package fakestore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"

	"github.com/rankpulse/rankpulse/internal/fixtures"
)

// EPPlay is the Play batchexecute endpoint's name in faults and hits.
const EPPlay = "play"

// PlayApp is an app the fake Play store knows.
type PlayApp struct {
	ID, Title, Developer string
}

// WatchedPlay are real apps the fake places in its charts.
var WatchedPlay = []PlayApp{
	{ID: "com.whatsapp", Title: "WhatsApp Messenger", Developer: "WhatsApp LLC"},
	{ID: "org.telegram.messenger", Title: "Telegram", Developer: "Telegram FZ-LLC"},
	{ID: "org.thoughtcrime.securesms", Title: "Signal Private Messenger", Developer: "Signal Foundation"},
	{ID: "com.turkcell.bip", Title: "BiP - Messenger, Video Call", Developer: "Turkcell"},
}

// Play fakes play.google.com's batchexecute top-charts call (rpc vyAe2).
type Play struct {
	base

	rmu      sync.Mutex
	round    int
	override map[string][]string
	empty    map[string]bool
	Seen     []PlayRequest

	pool []PlayApp
	byID map[string]PlayApp

	// From the recording: the payload split around its app list, one real
	// app element, and the frames after the payload's.
	payloadHead, payloadTail []byte
	appTemplate              []any
	trailer                  [][]byte
	apps                     sync.Map // id → app element JSON
}

// PlayRequest is what the fake understood of a request.
type PlayRequest struct {
	Country, Language, Collection, Category string
	Num                                     int
}

// NewPlay returns a fake whose charts shuffle a pool of poolSize apps (plus
// WatchedPlay) per country, collection and category.
func NewPlay(poolSize int) *Play {
	p := &Play{override: map[string][]string{}, empty: map[string]bool{}, byID: map[string]PlayApp{}}
	p.pool = append(p.pool, WatchedPlay...)
	for i := range poolSize {
		p.pool = append(p.pool, PlayApp{ID: fmt.Sprintf("com.example.play.app%d", i), Title: fmt.Sprintf("Play App %d", i), Developer: fmt.Sprintf("Studio %d", i%89)})
	}
	for _, a := range p.pool {
		p.byID[a.ID] = a
	}
	p.loadTemplate()
	return p
}

// loadTemplate takes the recording apart: frames, payload, app list.
func (p *Play) loadTemplate() {
	frames := PlayFrames(fixtures.Read(fixtures.PlayTopFreeGame))
	var env [][]any
	must(json.Unmarshal(frames[0], &env))
	var payload []any
	must(json.Unmarshal([]byte(env[0][2].(string)), &payload))
	list := payload[0].([]any)[1].([]any)[0].([]any)[28].([]any)
	apps := list[0].([]any)
	p.appTemplate = apps[0].([]any)
	list[0] = "\x00APPS\x00"
	b, err := json.Marshal(payload)
	must(err)
	head, tail, ok := bytes.Cut(b, []byte(`"\u0000APPS\u0000"`))
	if !ok {
		panic("fakestore: no app list marker in the payload")
	}
	p.payloadHead, p.payloadTail = head, tail
	p.trailer = frames[1:]
}

// App returns an app of the pool.
func (p *Play) App(id string) (PlayApp, bool) {
	a, ok := p.byID[id]
	return a, ok
}

// SetRound changes every generated chart.
func (p *Play) SetRound(n int) {
	p.rmu.Lock()
	p.round = n
	p.rmu.Unlock()
}

func playKey(gl, collection, category string) string { return gl + "/" + collection + "/" + category }

// SetChart fixes a chart (Play collection and category ids).
func (p *Play) SetChart(gl, collection, category string, ids []string) {
	p.rmu.Lock()
	p.override[playKey(gl, collection, category)] = ids
	p.rmu.Unlock()
}

// SetEmpty makes Google answer "no such chart" (payload[0][1] null).
func (p *Play) SetEmpty(gl, collection, category string) {
	p.rmu.Lock()
	p.empty[playKey(gl, collection, category)] = true
	p.rmu.Unlock()
}

// Ranking returns a chart's full ranking (200 apps).
func (p *Play) Ranking(gl, collection, category string) []string {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	if o, ok := p.override[playKey(gl, collection, category)]; ok {
		return slices.Clone(o)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", playKey(gl, collection, category), p.round)
	rng := rand.New(rand.NewPCG(h.Sum64(), 7))
	var ids []string
	for _, i := range rng.Perm(len(p.pool))[:min(200, len(p.pool))] {
		ids = append(ids, p.pool[i].ID)
	}
	return ids
}

// ServeHTTP answers POST /_/PlayStoreUi/data/batchexecute?rpcids=vyAe2.
func (p *Play) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = withArrival(r)
	form, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	if r.Method != http.MethodPost || r.URL.Path != "/_/PlayStoreUi/data/batchexecute" || q.Get("rpcids") != "vyAe2" || q.Get("gl") == "" || q.Get("hl") == "" {
		p.serve(w, r, "other", "text/html; charset=UTF-8", []byte("<html><head><title>Error 404 (Not Found)!!1</title></head></html>"), string(form))
		return
	}
	req, err := parsePlayForm(form)
	if err != nil {
		p.serve(w, r, EPPlay, "text/plain", []byte("bad request: "+err.Error()), string(form))
		return
	}
	req.Country, req.Language = q.Get("gl"), q.Get("hl")
	p.rmu.Lock()
	p.Seen = append(p.Seen, req)
	empty := p.empty[playKey(req.Country, req.Collection, req.Category)]
	p.rmu.Unlock()
	var body []byte
	if empty {
		body = p.Body(nil)
	} else {
		ids := p.Ranking(req.Country, req.Collection, req.Category)
		body = p.Body(ids[:min(req.Num, len(ids))])
	}
	p.serve(w, r, EPPlay, "application/json; charset=utf-8", body, string(form))
}

// parsePlayForm reads f.req the way Google would need to: one vyAe2 call
// whose argument is [[null,[[8,[20,num]],…],[2,collection,category]]].
func parsePlayForm(form []byte) (PlayRequest, error) {
	v, err := url.ParseQuery(string(form))
	if err != nil {
		return PlayRequest{}, err
	}
	var freq []any
	if err := json.Unmarshal([]byte(v.Get("f.req")), &freq); err != nil {
		return PlayRequest{}, fmt.Errorf("f.req: %v", err)
	}
	call := dig(freq, 0, 0)
	c, _ := call.([]any)
	if len(c) != 4 || c[0] != "vyAe2" || c[3] != "generic" {
		return PlayRequest{}, fmt.Errorf("f.req is not one vyAe2 call")
	}
	var arg []any
	s, _ := c[1].(string)
	if err := json.Unmarshal([]byte(s), &arg); err != nil {
		return PlayRequest{}, fmt.Errorf("argument: %v", err)
	}
	num, _ := dig(arg, 0, 1, 0, 1, 1).(float64)
	coll, _ := dig(arg, 0, 2, 1).(string)
	cat, _ := dig(arg, 0, 2, 2).(string)
	if num < 1 || coll == "" || cat == "" {
		return PlayRequest{}, fmt.Errorf("argument lacks the count, collection or category")
	}
	return PlayRequest{Num: int(num), Collection: coll, Category: cat}, nil
}

func dig(v any, idx ...int) any {
	for _, i := range idx {
		a, ok := v.([]any)
		if !ok || i >= len(a) {
			return nil
		}
		v = a[i]
	}
	return v
}

// Body builds the batchexecute answer listing ids (nil: "no such chart"),
// in the recording's framing.
func (p *Play) Body(ids []string) []byte {
	var payload []byte
	if ids == nil {
		payload = []byte(`[[null,null,null,null,null,null,[]]]`)
	} else {
		var b bytes.Buffer
		b.Write(p.payloadHead)
		b.WriteByte('[')
		for i, id := range ids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(p.appJSON(id))
		}
		b.WriteByte(']')
		b.Write(p.payloadTail)
		payload = b.Bytes()
	}
	return PlayFrame(payload, p.trailer)
}

func (p *Play) appJSON(id string) []byte {
	if b, ok := p.apps.Load(id); ok {
		return b.([]byte)
	}
	app, ok := p.byID[id]
	if !ok {
		app = PlayApp{ID: id, Title: "App " + id, Developer: "Developer"}
	}
	var el []any
	tb, _ := json.Marshal(p.appTemplate)
	must(json.Unmarshal(tb, &el)) // deep copy of the real element
	head := el[0].([]any)
	head[0].([]any)[0] = app.ID
	head[3] = app.Title
	head[14] = app.Developer
	b, err := json.Marshal(el)
	must(err)
	p.apps.Store(id, b)
	return b
}

// PlayFrame frames a vyAe2 payload the way Google does: the )]}' prefix,
// then for each frame its length in UTF-16 units of "\n"+JSON+"\n"; the
// ["e",…,<bytes>] trailer frame carries the body's final size.
func PlayFrame(payload []byte, trailer [][]byte) []byte {
	env, err := json.Marshal([]any{[]any{"wrb.fr", "vyAe2", string(payload), nil, nil, nil, "generic"}})
	must(err)
	return ReframePlay(append([][]byte{env}, trailer...))
}

// ReframePlay writes frames as an answer, replacing any ["e",…] size frame
// with one that matches the new body.
func ReframePlay(in [][]byte) []byte {
	var frames [][]byte
	for _, t := range in {
		if !bytes.HasPrefix(t, []byte(`[["e",`)) {
			frames = append(frames, t)
		}
	}
	body := JoinPlayFrames(frames)
	// The size frame counts itself; settle its digits.
	total := len(body)
	for {
		e := []byte(fmt.Sprintf(`[["e",4,null,null,%d]]`, total))
		full := JoinPlayFrames(append(frames, e))
		if len(full) == total {
			return full
		}
		total = len(full)
	}
}

// JoinPlayFrames writes frames with correct length lines.
func JoinPlayFrames(frames [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(")]}'\n")
	for _, f := range frames {
		b.WriteByte('\n')
		b.WriteString(strconv.Itoa(utf16Units(f) + 2))
		b.WriteByte('\n')
		b.Write(f)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// PlayFrames splits an answer into its frames' JSON lines, trusting its
// length lines (for building test variants).
func PlayFrames(body []byte) [][]byte {
	var out [][]byte
	for _, line := range bytes.Split(bytes.TrimPrefix(body, []byte(")]}'\n")), []byte("\n")) {
		if len(line) > 0 && (line[0] == '[' || line[0] == '{') {
			out = append(out, line)
		}
	}
	return out
}

func utf16Units(b []byte) int {
	n := 0
	for _, r := range string(b) {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// MutatePlayPayload returns body with its payload rewritten by fn and the
// framing recomputed: a well-framed answer whose content has drifted.
func MutatePlayPayload(body []byte, fn func(payload []any) any) []byte {
	frames := PlayFrames(body)
	var env [][]any
	must(json.Unmarshal(frames[0], &env))
	var payload []any
	must(json.Unmarshal([]byte(env[0][2].(string)), &payload))
	nb, err := json.Marshal(fn(payload))
	must(err)
	return PlayFrame(nb, frames[1:])
}

// Stores serves both fakes on one handler: the Play batchexecute path goes
// to play, everything else to apple.
func Stores(apple *Apple, play *Play) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_/PlayStoreUi/data/batchexecute" {
			play.ServeHTTP(w, r)
			return
		}
		apple.ServeHTTP(w, r)
	})
}
