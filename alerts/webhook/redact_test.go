package webhook

import (
	"errors"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/rankpulse/rankpulse/config"
)

// TestRedactEverySpelling checks the second line of defence: whichever way
// a message spells a receiver's URL or its parts, headers or signing
// secret, none is left.
func TestRedactEverySpelling(t *testing.T) {
	w := config.Webhook{
		Name:    "ops",
		URL:     "http://bob:hunter2pw@127.0.0.1:8995/hook/SUPER SECRET?token=qt0ken%2BSECRET&x=1",
		Secret:  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		Headers: map[string]config.Secret{"Authorization": "Bearer s3cr3t-t0k3n"},
	}
	for _, msg := range []string{
		w.URL.Value(),
		`Post "http://bob:***@127.0.0.1:8995/hook/SUPER%20SECRET?token=qt0ken%2BSECRET&x=1": EOF`, // as net/http prints it
		"http://bob:xxxxx@127.0.0.1:8995/hook/SUPER%20SECRET?token=qt0ken%2BSECRET&x=1",           // url.URL.Redacted
		"http://127.0.0.1:8995/hook/SUPER%20SECRET?token=qt0ken%2BSECRET&x=1",                     // without user info
		"path /hook/SUPER SECRET or /hook/SUPER%20SECRET",
		"query token=qt0ken%2BSECRET&x=1, value qt0ken+SECRET or qt0ken%2BSECRET",
		"user info bob:hunter2pw, password hunter2pw",
		"header Bearer s3cr3t-t0k3n, token s3cr3t-t0k3n",
		"secret " + w.Secret.Value(),
	} {
		got := redact(msg, w)
		for _, secret := range []string{"hunter2pw", "SUPER", "qt0ken", "s3cr3t", "MfKQ9r8G"} {
			if strings.Contains(got, secret) {
				t.Errorf("redact(%q) = %q: %q is left", msg, got, secret)
			}
		}
	}
	if got := redact("dial tcp 127.0.0.1:8995: connect: connection refused", w); got != "dial tcp 127.0.0.1:8995: connect: connection refused" {
		t.Errorf("a message without secrets was changed: %q", got)
	}
}

func TestSendErrorDropsTheURLAndWrapsTheCause(t *testing.T) {
	w := config.Webhook{Name: "ops", URL: "http://127.0.0.1:8995/hook/SUPER SECRET"}
	err := sendError(&url.Error{Op: "Post", URL: "http://127.0.0.1:8995/hook/SUPER%20SECRET", Err: syscall.ECONNREFUSED}, w)
	if err.Error() != `POST to receiver "ops": connection refused` || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("sendError = %q (wrapping the cause: %v)", err, errors.Is(err, syscall.ECONNREFUSED))
	}
	// A cause that itself holds a secret is redacted, at the price of the chain.
	err = sendError(errors.New("proxy said: no route to /hook/SUPER SECRET"), w)
	if err.Error() != `POST to receiver "ops": proxy said: no route to REDACTED` {
		t.Fatalf("sendError = %q", err)
	}
}

// A receiver echoing its URL near the point where the answer's first line
// is cut short leaks no part of it.
func TestAnswerLineIsRedactedBeforeItIsCut(t *testing.T) {
	w := config.Webhook{Name: "slack", URL: "https://hooks.slack.com/services/T0001/B0001/XXXXsecretpathXXXX"}
	for pad := 150; pad < 200; pad++ {
		body := strings.Repeat("a", pad) + " no route to /services/T0001/B0001/XXXXsecretpathXXXX\nmore"
		if got := answerLine([]byte(body), w); strings.Contains(got, "secretpath") || strings.Contains(got, "B0001") {
			t.Fatalf("pad %d: %q", pad, got)
		}
	}
}

// Redaction hides secrets, not the words around them: a short API path, a
// plain header and the word Bearer stay readable.
func TestRedactLeavesHarmlessTextAlone(t *testing.T) {
	w := config.Webhook{
		Name:    "am",
		URL:     "https://alerts.example.com/api/v2/alerts",
		Headers: map[string]config.Secret{"Content-Type": "application/json", "Authorization": "Bearer s3cr3t-t0k3n"},
	}
	msg := "invalid Bearer token s3cr3t-t0k3n, expected application/json at /api/v2/alerts"
	if got, want := redact(msg, w), "invalid Bearer token REDACTED, expected application/json at /api/v2/alerts"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}
