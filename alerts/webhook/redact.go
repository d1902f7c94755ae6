package webhook

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rankpulse/rankpulse/config"
)

// redact replaces every spelling of a receiver's secrets in s: its URL as
// configured, as net/url and net/http print it, without user info, its
// path, user info and query values, and its header values and signing
// secret. Strings shorter than 4 bytes are left alone: they would garble
// the message more than they hide.
func redact(s string, w config.Webhook) string {
	if s == "" {
		return s
	}
	repl := map[string]string{}
	add := func(with string, olds ...string) {
		for _, old := range olds {
			if len(old) >= 4 {
				repl[old] = with
				if q := strconv.Quote(old); q[1:len(q)-1] != old { // url.Error quotes the URL
					repl[q[1:len(q)-1]] = with
				}
			}
		}
	}
	raw := w.URL.Value()
	named := "<url of webhook " + w.Name + ">"
	add(named, raw)
	if u, err := url.Parse(raw); err == nil {
		add(named, u.String())
		v := *u
		v.User = nil
		add(named, v.String())
		if u.User != nil {
			v.User = url.UserPassword(u.User.Username(), "***") // as net/http prints it
			add(named, v.String(), u.Redacted())
			pw, _ := u.User.Password()
			add("REDACTED", u.User.String(), pw)
		}
		// A long path is the secret of Slack and Discord URLs; a short one
		// (/api/v2/alerts) is not, and hiding it would garble answers. A
		// segment that looks like a token is hidden either way.
		if len(u.Path) >= 16 {
			add("REDACTED", u.Path, u.EscapedPath())
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			if len(seg) >= 8 && strings.ContainsAny(seg, "0123456789") {
				add("REDACTED", seg, url.PathEscape(seg))
			}
		}
		add("REDACTED", u.RawQuery)
		for _, vs := range u.Query() {
			for _, x := range vs {
				add("REDACTED", x, url.QueryEscape(x))
			}
		}
	}
	add("REDACTED", w.Secret.Value())
	for name, h := range w.Headers {
		if plainHeaders[http.CanonicalHeaderKey(name)] {
			continue
		}
		add("REDACTED", h.Value())
		for _, word := range strings.Fields(h.Value()) { // "Bearer <token>"
			if !authSchemes[strings.ToLower(word)] {
				add("REDACTED", word)
			}
		}
	}
	olds := slices.Collect(maps.Keys(repl))
	// At each position strings.Replacer tries the old strings in order:
	// longest first, so a whole URL goes before the parts it contains.
	slices.SortFunc(olds, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(olds))
	for _, old := range olds {
		pairs = append(pairs, old, repl[old])
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// answerLine is the first line of a receiver's answer, redacted as a whole
// before it is cut short: a cut secret would no longer match.
func answerLine(body []byte, w config.Webhook) string {
	return firstLine([]byte(redact(string(body), w)))
}

// plainHeaders carry no secret; hiding their values would garble answers
// that quote them.
var plainHeaders = map[string]bool{"Content-Type": true, "Accept": true, "User-Agent": true}

// authSchemes are the words before a credential in an Authorization header.
var authSchemes = map[string]bool{"bearer": true, "basic": true, "token": true, "bot": true, "digest": true}

func firstLine(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			if len(l) > 200 {
				l = strings.ToValidUTF8(l[:200], "") + "…"
			}
			return l
		}
	}
	return ""
}
