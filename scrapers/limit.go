package scrapers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DefaultMaxBodyBytes bounds a store's answer when FetchConfig.MaxBodyBytes
// is zero: 16 MiB, about 19 times Google Play's real 100-app answer
// (853 KB) and 8 times an estimated 200-app one.
const DefaultMaxBodyBytes = 16 << 20

// ErrBodyTooLarge is wrapped by BodyTooLargeError.
var ErrBodyTooLarge = errors.New("answer larger than the size limit")

// BodyTooLargeError is an answer that exceeded the store's body limit. The
// read stopped at the limit: no part of the answer is used, and the request
// is not retried (a store that sends 50 MB once sends it again).
type BodyTooLargeError struct {
	URL   string
	Limit int64
	// Size is the announced Content-Length, or 0 when the body was cut
	// while streaming.
	Size int64
	// Key is the config key that sets Limit.
	Key string
}

func (e *BodyTooLargeError) Error() string {
	size := "more than the limit"
	if e.Size > 0 {
		size = fmt.Sprintf("%d bytes announced", e.Size)
	}
	return fmt.Sprintf("the answer from %s is larger than the %d-byte limit (%s); nothing of it was used: raise %s if the store's answers really grew that much",
		e.URL, e.Limit, size, e.Key)
}

func (e *BodyTooLargeError) Unwrap() error { return ErrBodyTooLarge }

// limitTransport refuses bodies larger than limit: up front when the
// Content-Length says so, else by failing the read of the byte past the
// limit. So no more than limit+1 bytes of an answer are ever held. It also
// marks every response as already decompressed, which stops colly from
// gunzipping a body whose Content-Type mentions gzip after the limit was
// applied (a gzip bomb would otherwise be unbounded).
type limitTransport struct {
	next  http.RoundTripper
	limit int64
	key   string
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw := req.URL.String()
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, &BodyTooLargeError{URL: raw, Limit: t.limit, Size: resp.ContentLength, Key: t.key}
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit, err: &BodyTooLargeError{URL: raw, Limit: t.limit, Key: t.key}}
	resp.Uncompressed = true
	return resp, nil
}

// limitedBody reads at most left bytes and fails the read past them.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  *BodyTooLargeError
	over bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		b.over = true
		return int(b.left), b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// unwrapURLError drops the *url.Error that net/http wraps around a failed
// request: it repeats the method and the URL ("Get \"http://…\": …"), which
// the fetcher's own message already names once.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok && ue.Err != nil {
		return ue.Err
	}
	return err
}
