package influx

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/rankpulse/rankpulse/chart"
	"github.com/rankpulse/rankpulse/sinks"
)

// Line protocol is built straight into a byte buffer, byte for byte what
// influxdb-client-go's write.NewPoint + PointToLineProtocolBuffer produce
// at second precision (tags and fields sorted by key, the client's
// escaping, integers with an "i" suffix) without its two maps, sort and
// boxed values per point. lines_test.go keeps the client's way as the
// reference and compares the two.

// Lines converts a batch to line protocol (SPEC §5): one chart_scrape point
// per snapshot and one app_rank point per entry, at the slot time. An app
// without a name is tagged UnknownName.
func Lines(b sinks.Batch, watch map[string]map[string]string) []string {
	var lines []string
	eachLine(b, watch, func(_ *chart.Snapshot, e *chart.Entry) string { return tagName(e) }, func(l []byte) { lines = append(lines, string(l)) })
	return lines
}

// eachLine calls fn with each line of the batch (no newline), in order,
// without holding them all; name gives each entry's app_name tag. The line
// is only valid during the call.
func eachLine(b sinks.Batch, watch map[string]map[string]string, name func(*chart.Snapshot, *chart.Entry) string, fn func([]byte)) {
	var lb lineBuf
	for i := range b.Snapshots {
		lb.snapshot(&b.Snapshots[i], watch[b.Snapshots[i].Store], name, fn)
	}
	for i := range b.Alerts {
		lb.line = appendAlert(lb.line[:0], &b.Alerts[i])
		fn(lb.line)
	}
}

// lineBuf holds the buffers lines are built in, reused from line to line.
type lineBuf struct {
	line   []byte
	common []byte // a chart's tags after app_name, escaped once per chart
	ts     []byte // " <slot seconds>"
}

// snapshot emits the chart_scrape point of s, then an app_rank point per
// entry.
func (lb *lineBuf) snapshot(s *chart.Snapshot, watch map[string]string, name func(*chart.Snapshot, *chart.Entry) string, fn func([]byte)) {
	lb.ts = appendTime(lb.ts[:0], chart.SlotTime(s.Time))
	source := s.Source
	if source == "" {
		source = "unknown"
	}
	// chart_scrape: tags category, chart, country, source, store; fields
	// complete, duration_ms, entries, error (failures only).
	b := append(lb.line[:0], "chart_scrape,"...)
	b = appendTag(b, "category", s.Category, false)
	b = appendTag(b, "chart", s.Chart, true)
	b = appendTag(b, "country", s.Country, true)
	b = appendTag(b, "source", source, true)
	b = appendTag(b, "store", s.Store, true)
	b = append(b, " complete="...)
	b = strconv.AppendBool(b, s.Complete)
	b = append(b, ",duration_ms="...)
	b = strconv.AppendInt(b, s.DurationMS, 10)
	b = append(b, "i,entries="...)
	b = strconv.AppendInt(b, int64(len(s.Entries)), 10)
	b = append(b, 'i')
	if s.Error != "" {
		b = append(b, `,error="`...)
		b = appendFieldString(b, s.Error)
		b = append(b, '"')
	}
	b = append(b, lb.ts...)
	fn(b)

	// app_rank: tags app_id, app_name, category, chart, country, store,
	// watch (watched apps only); field rank.
	c := appendTag(lb.common[:0], "category", s.Category, true)
	c = appendTag(c, "chart", s.Chart, true)
	c = appendTag(c, "country", s.Country, true)
	c = appendTag(c, "store", s.Store, true)
	lb.common = c
	for i := range s.Entries {
		e := &s.Entries[i]
		b = append(b[:0], "app_rank,app_id="...)
		b = appendKey(b, e.AppID, true)
		b = append(b, ",app_name="...)
		b = appendKey(b, name(s, e), true)
		b = append(b, c...)
		w := e.Watch
		if w == "" {
			w = watch[e.AppID]
		}
		if w != "" {
			b = appendTag(b, "watch", w, true)
		}
		b = append(b, " rank="...)
		b = strconv.AppendInt(b, int64(e.Rank), 10)
		b = append(b, 'i')
		b = append(b, lb.ts...)
		fn(b)
	}
	lb.line = b
}

// appendAlert is a rank_alert point (SPEC §5) at the alert's time. Ranks
// that do not apply (null in the alert) are left out, and so are empty
// tags: a multi-country surge has no country tag.
func appendAlert(b []byte, a *chart.Alert) []byte {
	name := a.AppName
	if name == "" && a.AppID != "" {
		name = UnknownName(a.AppID)
	}
	b = append(b, "rank_alert"...)
	// tags in key order: app_id, app_name, country, kind, severity, store, watch
	for _, t := range [...]struct{ k, v string }{
		{"app_id", a.AppID}, {"app_name", name}, {"country", a.CountryCode()}, {"kind", a.Kind},
		{"severity", a.Severity}, {"store", a.Store}, {"watch", a.WatchName()},
	} {
		if t.v != "" {
			b = append(b, ',')
			b = append(b, t.k...)
			b = append(b, '=')
			b = appendKey(b, t.v, true)
		}
	}
	if len(b) == len("rank_alert") {
		b = append(b, ',') // the client writes the comma even with no tag
	}
	// fields in key order: from_rank, summary, to_rank
	b = append(b, ' ')
	if a.FromRank != nil {
		b = append(b, "from_rank="...)
		b = strconv.AppendInt(b, int64(*a.FromRank), 10)
		b = append(b, "i,"...)
	}
	b = append(b, `summary="`...)
	b = appendFieldString(b, a.Summary)
	b = append(b, '"')
	if a.ToRank != nil {
		b = append(b, ",to_rank="...)
		b = strconv.AppendInt(b, int64(*a.ToRank), 10)
		b = append(b, 'i')
	}
	return appendTime(b, chart.SlotTime(a.Time))
}

// appendTag appends key=value, after a comma unless first.
func appendTag(b []byte, key, value string, comma bool) []byte {
	if comma {
		b = append(b, ',')
	}
	b = append(b, key...)
	b = append(b, '=')
	return appendKey(b, value, true)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, ' ')
	return strconv.AppendInt(b, t.Unix(), 10)
}

// appendKey escapes a tag key or value as the client does: a backslash
// before spaces and commas (and equals signs, with escapeEqual), newlines,
// carriage returns and tabs spelt \\n, \\r, \\t, invalid UTF-8 replaced by
// U+FFFD.
func appendKey(b []byte, s string, escapeEqual bool) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || c == ' ' || c == ',' || c == '=' || c == '\n' || c == '\r' || c == '\t' {
			plain = false
			break
		}
	}
	if plain {
		return append(b, s...)
	}
	for _, r := range s {
		switch r {
		case '\n':
			b = append(b, `\\n`...)
			continue
		case '\r':
			b = append(b, `\\r`...)
			continue
		case '\t':
			b = append(b, `\\t`...)
			continue
		case ' ', ',':
			b = append(b, '\\')
		case '=':
			if escapeEqual {
				b = append(b, '\\')
			}
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

// appendFieldString escapes a string field's value as the client does: a
// backslash before backslashes and double quotes, invalid UTF-8 replaced by
// U+FFFD.
func appendFieldString(b []byte, s string) []byte {
	for _, r := range s {
		if r == '\\' || r == '"' {
			b = append(b, '\\')
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}
