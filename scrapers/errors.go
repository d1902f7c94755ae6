package scrapers

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// HTTPError is a response whose status is not a success.
type HTTPError struct {
	Method      string
	URL         string
	Status      int
	ContentType string
	Size        int
	Snippet     string
	RetryAfter  time.Duration
	Attempts    int
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d %s (%s)", e.Method, e.URL, e.Status, http.StatusText(e.Status), describe(e.ContentType, e.Size, e.Snippet))
	if e.Attempts > 1 {
		msg += fmt.Sprintf(", gave up after %d attempts", e.Attempts)
	}
	return msg
}

// FormatError is a response the parser could not read: an HTML page where
// JSON was expected, a truncated body, or a shape that changed (format
// drift). Path says where in the document reading failed.
type FormatError struct {
	URL     string
	Path    string
	Err     error
	Snippet string
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("unexpected response from ")
	b.WriteString(e.URL)
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	if e.Snippet != "" {
		b.WriteString(" (body starts ")
		b.WriteString(e.Snippet)
		b.WriteString(")")
	}
	b.WriteString("; the store may have changed its format")
	return b.String()
}

func (e *FormatError) Unwrap() error { return e.Err }

// PathError is a parse failure at a path in a response ("resultIds[3]",
// "payload[0][1][0][28][0][5][0][3]"). Scrapers wrap it in a FormatError
// that also names the URL.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

// PathErr returns a PathError.
func PathErr(path, format string, args ...any) error {
	return &PathError{Path: path, Err: fmt.Errorf(format, args...)}
}

// NewFormatError wraps a parse error of resp's body: a PathError gives its
// path; the body's start is kept when showSnippet is set.
func NewFormatError(resp *Response, err error, showSnippet bool) *FormatError {
	fe := &FormatError{URL: resp.URL, Err: err}
	var pe *PathError
	if errors.As(err, &pe) {
		fe.Path, fe.Err = pe.Path, pe.Err
	}
	if showSnippet {
		fe.Snippet = Snippet(resp.Body)
	}
	return fe
}

// ErrBlocked is wrapped by BlockedError.
var ErrBlocked = errors.New("blocked by the store")

// BlockedError is the store refusing us: a captcha page, a consent redirect,
// a 429. The sweep of that store stops early and backs off.
type BlockedError struct {
	URL        string
	Reason     string
	RetryAfter time.Duration
}

func (e *BlockedError) Error() string {
	msg := fmt.Sprintf("%v: %s answered %s", ErrBlocked, e.URL, e.Reason)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (Retry-After %s)", e.RetryAfter)
	}
	return msg
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

// ErrUnsupported is returned by a source asked for a chart it does not serve
// (the marketing feed has no genres); the next source is tried.
var ErrUnsupported = errors.New("not served by this source")

// ErrStopped is returned for requests not started because the sweep is
// shutting down.
var ErrStopped = errors.New("sweep stopped before this request")

func shortError(got, want int) string {
	return fmt.Sprintf("short chart: %d of %d entries", got, want)
}

// IsHTML reports whether a body is an HTML page (by Content-Type or content).
func IsHTML(contentType string, body []byte) bool {
	if strings.Contains(strings.ToLower(contentType), "html") {
		return true
	}
	b := strings.TrimLeft(string(body[:min(len(body), 512)]), " \t\r\n\ufeff")
	return strings.HasPrefix(b, "<")
}

// CheckJSON returns a FormatError when a body that should be JSON is empty
// or an HTML page.
func CheckJSON(resp *Response) error {
	ct := resp.Header.Get("Content-Type")
	switch {
	case len(resp.Body) == 0:
		return &FormatError{URL: resp.URL, Err: errors.New("empty body")}
	case IsHTML(ct, resp.Body):
		return &FormatError{URL: resp.URL, Err: fmt.Errorf("HTML page instead of JSON (HTTP %d, %s)", resp.Status, describe(ct, len(resp.Body), Snippet(resp.Body)))}
	}
	return nil
}

var titleRe = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// Snippet describes the start of a body for an error message: the <title> of
// an HTML page, else its first bytes, quoted.
func Snippet(body []byte) string {
	if m := titleRe.FindSubmatch(body[:min(len(body), 8192)]); m != nil {
		t := strings.Join(strings.Fields(string(m[1])), " ")
		return strconv.Quote("<title>" + truncate(t, 80) + "</title>")
	}
	return strconv.Quote(truncate(strings.Join(strings.Fields(string(body[:min(len(body), 400)])), " "), 80))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func describe(contentType string, size int, snippet string) string {
	if contentType == "" {
		contentType = "no content type"
	}
	s := fmt.Sprintf("%s, %d bytes", contentType, size)
	if snippet != "" && size > 0 {
		s += ": " + snippet
	}
	return s
}

// ParseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
