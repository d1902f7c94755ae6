package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/config"
)

// One pass reports every problem in the file, in file order: unknown keys,
// values of the wrong type, a key given twice and the rules of validation;
// a dropped value does not bring its own consequences along (jobs[1].countries
// is not also "must list country codes", watch[0] is not also "needs an
// appstore id").
func TestEveryErrorInOnePass(t *testing.T) {
	_, err := config.Load("testdata/invalid-many.yml")
	want := []string{
		`testdata/invalid-many.yml:5: stores.appstore.rat: unknown key (did you mean "rate"?)`,
		`testdata/invalid-many.yml:11: jobs[0].countries[1]: unknown country "uk" for appstore, googleplay (did you mean "gb"?)`,
		`testdata/invalid-many.yml:13: jobs[0].depth: got "x", want an integer`,
		`testdata/invalid-many.yml:14: jobs[0].colour: unknown key (known keys here: catch_up, categories, charts, countries, depth, name, schedule, stores)`,
		`testdata/invalid-many.yml:15: jobs[0].catch_up: got "maybe", want true or false`,
		`testdata/invalid-many.yml:16: jobs[1].name: job name "messaging" is already used by jobs[0]`,
		`testdata/invalid-many.yml:17: jobs[1].countries: got "5", want a list`,
		`testdata/invalid-many.yml:18: jobs[1].depth: must be between 1 and 200 (got 900)`,
		`testdata/invalid-many.yml:19: retention: must be at least 1h (got 5m0s)`,
		`testdata/invalid-many.yml:22: watch[0].appstor: unknown key (did you mean "appstore"?)`,
		`testdata/invalid-many.yml:23: log.level: "loud" is not one of debug, info, warn, error`,
		`testdata/invalid-many.yml:24: log: given twice (first at line 23): keep one`,
	}
	var es config.Errors
	if !errors.As(err, &es) {
		t.Fatalf("Load = %v, want config.Errors", err)
	}
	if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %d errors:\n%s\n\nwant %d:\n%s", len(got), err, len(want), strings.Join(want, "\n"))
	}
	if !errors.Is(err, config.ErrUnknownKey) || !errors.Is(err, config.ErrDuplicateKey) {
		t.Error("the errors do not wrap ErrUnknownKey and ErrDuplicateKey")
	}
}

// A value dropped for its type leaves the default in place: the rest of
// the file still decodes and validates.
func TestDroppedValueKeepsItsDefault(t *testing.T) {
	src := "jobs:\n  - name: a\n    countries: [us, [x], gb]\n    depth: deep\n    bogus: 1\n  - name: b\n    countries: [zz]\n"
	_, err := config.Parse([]byte(src), "c.yaml")
	want := "c.yaml:3: jobs[0].countries[1]: got a list, want a string\n" +
		"c.yaml:4: jobs[0].depth: got \"deep\", want an integer\n" +
		"c.yaml:5: jobs[0].bogus: unknown key (known keys here: catch_up, categories, charts, countries, depth, name, schedule, stores)\n" +
		"c.yaml:7: jobs[1].countries[0]: unknown country \"zz\" for appstore, googleplay (did you mean \"az\"?)"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}
