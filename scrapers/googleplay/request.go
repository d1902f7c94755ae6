package googleplay

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/rankpulse/rankpulse/chart"
)

// RPC is the batchexecute rpc id of the top-charts call.
const RPC = "vyAe2"

// Collections maps charts to Play's collection names.
var Collections = map[string]string{
	chart.TopFree:     "topselling_free",
	chart.TopPaid:     "topselling_paid",
	chart.TopGrossing: "topgrossing",
}

// Category returns Play's category id for a job category ("all" is
// APPLICATION).
func Category(c string) string {
	if c == chart.All {
		return "APPLICATION"
	}
	return c
}

// The query string the Play web app sends with the call. The f.sid, bl and
// _reqid values are the web app's from 2022; google-play-scraper has sent
// them unchanged since (lib/list.js, PR #557) and the 2026-07 recording in
// internal/fixtures was made with them.
var staticQuery = [][2]string{
	{"rpcids", RPC},
	{"source-path", "/store/apps"},
	{"f.sid", "-4178618388443751758"},
	{"bl", "boq_playuiserver_20220612.08_p0"},
	{"authuser", "0"},
	{"soc-app", "121"},
	{"soc-platform", "1"},
	{"soc-device", "1"},
	{"_reqid", "82003"},
	{"rt", "c"},
}

// RequestURL returns the batchexecute URL for a country and language.
func RequestURL(base, lang, country string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(base, "/"))
	b.WriteString("/_/PlayStoreUi/data/batchexecute?")
	for _, kv := range staticQuery {
		b.WriteString(url.QueryEscape(kv[0]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[1]))
		b.WriteByte('&')
	}
	b.WriteString("hl=" + url.QueryEscape(lang) + "&gl=" + url.QueryEscape(country))
	return b.String()
}

// The request's field mask: which parts of each app the answer carries. Each
// group g is asked for with the same subfield selectors and the same list of
// field numbers; the answer's layout (title at [0][3], developer at [0][14])
// depends on it, so it is the mask of the recording the parser is tested on.
var (
	maskTop     = []int{64, 1, 195, 71, 8, 72, 9, 10, 11, 139, 12, 16, 145, 148, 150, 151, 152, 27, 30, 31, 96, 32, 34, 163, 100, 165, 104, 169, 108, 110, 113, 55, 56, 57, 122}
	maskFields  = []int{1, 31, 104, 9, 8, 27, 12, 65, 110, 88, 11, 56, 55, 96, 10, 122, 72, 71, 64, 113, 139, 150, 169, 165, 151, 163, 32, 16, 108, 100}
	maskSelects = []struct {
		group int
		sub   []int
	}{
		{7, []int{1, 73, 96, 103, 97, 58, 50, 92, 52, 112, 69, 19, 31, 101, 123, 74, 49, 80, 38, 20, 10, 14, 79, 43, 42, 139}},
		{9, []int{1, 7, 9, 24, 12, 31, 5, 15, 27, 8, 13, 10}},
		{17, []int{1, 7, 9, 25, 13, 31, 5, 41, 27, 8, 14, 10}},
		{10, []int{1, 7, 6, 9}},
		{1, []int{1, 5, 14, 38, 19, 29, 34, 4, 12, 11, 6, 30, 43, 40, 42, 16, 10, 7}},
		{4, []int{1, 3, 5, 4, 7, 6, 11, 19, 21, 17, 15, 12, 16, 20}},
		{3, []int{1, 5, 14, 4, 10, 17}},
		{2, []int{1, 5, 7, 4, 13, 16, 12, 18}},
	}
)

func ints(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// requestJSON is the call's argument with NUM, COLLECTION and CATEGORY to
// fill in.
var requestJSON = func() string {
	var sel []string
	for _, g := range maskSelects {
		for _, f := range maskFields {
			sel = append(sel, fmt.Sprintf("[[%d,%d],[[%s]]]", g.group, f, ints(g.sub)))
		}
	}
	return `[[null,[[8,[20,NUM]],true,null,[` + ints(maskTop) + `],` +
		`[null,null,[[[true],null,[[null,[]]],null,null,null,null,[null,2],null,null,null,null,null,null,[1],null,null,null,null,null,null,null,[1]],` +
		`[null,[[null,[]]]],[null,[[null,[]]],null,[true]],[null,[[null,[]]]],null,null,null,null,[[[null,[]]]],[[[null,[]]]]],` +
		`[[[null,[]]],[[[null,[]]]]],[[` + strings.Join(sel, ",") + `]]],null,null,[[[1,2],[10,8,9],[],[]]]],[2,COLLECTION,CATEGORY]]]`
}()

// RequestBody returns the form body asking for a chart.
func RequestBody(num int, collection, category string) []byte {
	coll, _ := json.Marshal(collection)
	cat, _ := json.Marshal(category)
	arg := strings.NewReplacer("NUM", strconv.Itoa(num), "COLLECTION", string(coll), "CATEGORY", string(cat)).Replace(requestJSON)
	freq, _ := json.Marshal([][]any{{[]any{RPC, arg, nil, "generic"}}})
	return []byte("f.req=" + url.QueryEscape(string(freq)) + "&at=AFSRYlx8XZfN8-O-IKASbNBDkB6T%3A1655531200971&")
}

// ParseRequestBody reads back what RequestBody wrote (for the fake store and
// tests): the count, the collection and the category.
func ParseRequestBody(body []byte) (num int, collection, category string, err error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return 0, "", "", err
	}
	var freq [][][]any
	if err := json.Unmarshal([]byte(form.Get("f.req")), &freq); err != nil || len(freq) != 1 || len(freq[0]) != 1 || len(freq[0][0]) < 2 {
		return 0, "", "", fmt.Errorf("f.req is not a single rpc call")
	}
	if freq[0][0][0] != RPC {
		return 0, "", "", fmt.Errorf("rpc %v, want %s", freq[0][0][0], RPC)
	}
	arg, _ := freq[0][0][1].(string)
	var a []any
	if err := json.Unmarshal([]byte(arg), &a); err != nil || len(a) != 1 {
		return 0, "", "", fmt.Errorf("argument is not [[…]]")
	}
	// [[null, [[8,[20,num]], true, null, mask, …], [2, collection, category]]]
	outer, _ := a[0].([]any)
	if len(outer) != 3 {
		return 0, "", "", fmt.Errorf("argument is not [[null,request,[2,collection,category]]]")
	}
	sel, _ := outer[2].([]any)
	if len(sel) != 3 {
		return 0, "", "", fmt.Errorf("no [2,collection,category]")
	}
	collection, _ = sel[1].(string)
	category, _ = sel[2].(string)
	req, _ := outer[1].([]any)
	if len(req) < 1 {
		return 0, "", "", fmt.Errorf("no request part")
	}
	count, _ := req[0].([]any)
	if len(count) != 2 {
		return 0, "", "", fmt.Errorf("no [8,[20,num]]")
	}
	pair, _ := count[1].([]any)
	if len(pair) != 2 {
		return 0, "", "", fmt.Errorf("no [20,num]")
	}
	n, _ := pair[1].(float64)
	return int(n), collection, category, nil
}
