package statuspage

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// timeLayout is the full form of a time (titles, footers); every time on
// the pages is UTC.
const timeLayout = "2006-01-02 15:04 UTC"

// clock shows t as a person scanning the page wants it: "16:07" today,
// "Mon 16:07" this week, "Nov 24 16:07" before.
func clock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	switch {
	case t.IsZero():
		return "never"
	case sameDay(t, now):
		return t.Format("15:04")
	case now.Sub(t) < 6*24*time.Hour && t.Before(now):
		return t.Format("Mon 15:04")
	case t.After(now) && t.Sub(now) < 6*24*time.Hour:
		return t.Format("Mon 15:04")
	default:
		return t.Format("Jan 2 15:04")
	}
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// roughDuration shows a duration to the unit that matters: "42 s",
// "17 min", "5 h 12 min", "3 d 4 h".
func roughDuration(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		if m := int(d.Minutes()) % 60; m != 0 {
			return fmt.Sprintf("%d h %d min", int(d.Hours()), m)
		}
		return fmt.Sprintf("%d h", int(d.Hours()))
	default:
		return fmt.Sprintf("%d d %d h", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// ago is "3 min ago", "in 3 min" or "never".
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if d := now.Sub(t); d >= 0 {
		return roughDuration(d) + " ago"
	}
	return "in " + roughDuration(t.Sub(now))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

// truncate cuts s to n runes.
func truncate(s string, n int) string {
	if s == "" {
		return "(no reason recorded)"
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// thousands writes n with thin separators: 12,345.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// percent floors to one decimal, so that 99.96 % does not show as 100 %.
func percent(part, whole int) string {
	if whole == 0 {
		return "–"
	}
	return strconv.FormatFloat(math.Floor(1000*float64(part)/float64(whole))/10, 'f', 1, 64) + " %"
}

// median of xs (sorted in place), +Inf for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.Inf(1)
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// standing is a code as the grid and legends write it: "3", "–" (below the
// chart) or "?" (not known).
func standing(c code) string {
	switch {
	case c == codeDeep:
		return strconv.Itoa(maxRank) + "+"
	case c.ranked():
		return strconv.Itoa(c.rank())
	case c == codeOut:
		return "–"
	}
	return "?"
}

// rankText is a code for sentences: "#3", "below the top 200", "not known".
func rankText(c code, depth int) string {
	switch {
	case c.ranked():
		return "#" + standing(c)
	case c == codeOut && depth > 0:
		return "below the top " + strconv.Itoa(depth)
	case c == codeOut:
		return "below the chart"
	}
	return "not known"
}

// band is the colour class of a code: top 3, top 10, top 50, top 200,
// deeper, below the chart, not known.
func band(c code) string {
	r := c.rank()
	switch {
	case c == codeOut:
		return "bo"
	case !c.ranked():
		return "bu"
	case r <= 3:
		return "b1"
	case r <= 10:
		return "b2"
	case r <= 50:
		return "b3"
	default:
		return "b4"
	}
}
