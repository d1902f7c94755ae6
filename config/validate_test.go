package config_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/config"
)

func TestJobWithoutStoresIsOneError(t *testing.T) {
	for _, tt := range []struct{ stores, countries, want string }{
		{"[]", "[us]", "c.yaml:3: jobs[0].stores: must list at least one of appstore, googleplay"},
		{"[itunes]", "[us]", `c.yaml:3: jobs[0].stores[0]: unknown store "itunes" (want appstore, googleplay)`},
		// The valid stores are still checked, and named alone.
		{"[appstore, itunes]", "[uk]", `c.yaml:3: jobs[0].stores[1]: unknown store "itunes" (want appstore, googleplay)` + "\n" +
			`c.yaml:4: jobs[0].countries[0]: unknown country "uk" for appstore (did you mean "gb"?)`},
	} {
		src := "jobs:\n  - name: a\n    stores: " + tt.stores + "\n    countries: " + tt.countries + "\n"
		_, err := config.Parse([]byte(src), "c.yaml")
		if err == nil || err.Error() != tt.want {
			t.Errorf("stores: %s:\ngot  %v\nwant %s", tt.stores, err, tt.want)
		}
	}
}

func TestListenPort(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9580", ":9580", "0.0.0.0:0", "[::1]:65535", "localhost:80", "localhost:http", "127.0.0.1:"} {
		if _, err := config.Parse([]byte("listen: \""+ok+"\"\n"), "c.yaml"); err != nil {
			t.Errorf("listen %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"0.0.0.0:99999", "0.0.0.0:65536", "127.0.0.1:-1", "127.0.0.1:no-such-service"} {
		_, err := config.Parse([]byte("listen: \""+bad+"\"\n"), "c.yaml")
		want := `c.yaml:1: listen: "` + bad + `": the port must be a number from 0 to 65535 or a service name`
		if err == nil || err.Error() != want {
			t.Errorf("listen %q:\ngot  %v\nwant %s", bad, err, want)
		}
	}
}

func TestWebhookSecretMustBeBase64(t *testing.T) {
	src := func(secret string) []byte {
		return []byte("alerts:\n  webhooks:\n    - name: ops\n      url: https://example.invalid/hook\n      secret: \"" + secret + "\"\n")
	}
	for _, ok := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "plain-text-key", "whsec_c2VjcmV0"} {
		if _, err := config.Parse(src(ok), "c.yaml"); err != nil {
			t.Errorf("secret %q: %v", ok, err)
		}
	}
	_, err := config.Parse(src("whsec_!!!notbase64"), "c.yaml")
	want := "c.yaml:5: alerts.webhooks[0].secret: the whsec_ secret is not base64 (illegal base64 data at input byte 0): " +
		"copy it exactly as the receiver issued it, or drop the whsec_ prefix to sign with the text as it is"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	var ce base64.CorruptInputError
	if !errors.As(err, &ce) {
		t.Fatalf("the base64 error is not wrapped: %v", err)
	}
	if _, err := config.Parse(src("whsec_"), "c.yaml"); err == nil || !strings.Contains(err.Error(), "the whsec_ secret is empty") {
		t.Fatalf("an empty whsec_ key: %v", err)
	}
}

// A malformed URL is reported without being repeated: it may hold a
// password or a token.
func TestBadURLIsNotEchoed(t *testing.T) {
	for _, raw := range []string{"user:hunter2pw@influx:8086", "http://user:hunter2pw@%zz/", "ftp://user:hunter2pw@host/", "http:///path?token=hunter2pw"} {
		_, err := config.Parse([]byte("sinks:\n  influxdb:\n    url: '"+raw+"'\n    bucket: rankpulse\n"), "c.yaml")
		if err == nil || !strings.Contains(err.Error(), "sinks.influxdb.url: is not an http(s) URL") {
			t.Errorf("%s: %v", raw, err)
		} else if strings.Contains(err.Error(), "hunter2pw") {
			t.Errorf("the URL's secret is in the error: %v", err)
		}
	}
}
