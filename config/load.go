// Package config loads and validates the rankpulse YAML configuration
// (SPEC §2).
//
// Loading is strict: unknown keys are errors, `${VAR}` and `${VAR:-default}`
// in any value are replaced from the environment, defaults are applied for
// absent keys, and every error names the file, the line and the full key path
// (for example `rankpulse.yaml:12: jobs[0].countries[3]: unknown country "uk"
// (did you mean "gb"?)`).
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem in a config file.
type Error struct {
	File  string
	Line  int // 0 when unknown
	Field string
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in a config file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.Is and errors.As see each problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// ErrUnknownKey is wrapped by the error for a key rankpulse does not know.
var ErrUnknownKey = errors.New("unknown key")

// EnvConfig names the environment variable that points at the config file.
const EnvConfig = "RANKPULSE_CONFIG"

// DefaultFile is read when present and no other config is named.
const DefaultFile = "rankpulse.yaml"

// Resolve picks the config file: the flag, else $RANKPULSE_CONFIG, else
// ./rankpulse.yaml if present. It returns "" for built-in defaults.
func Resolve(flagPath string) string {
	if flagPath != "" {
		return flagPath
	}
	if p := os.Getenv(EnvConfig); p != "" {
		return p
	}
	if _, err := os.Stat(DefaultFile); err == nil {
		return DefaultFile
	}
	return ""
}

// Load reads the config at path, or returns the built-in defaults when path
// is "". The error is an Errors value when the file has problems.
func Load(path string) (*Config, error) {
	if path == "" {
		cfg := Default()
		if err := cfg.validate(nil); err != nil {
			return nil, err // a bug: the defaults must be valid
		}
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w (run `rankpulse config example > %s` for a starting point)", err, path)
	}
	return Parse(data, path)
}

// Parse decodes, expands and validates a config file's contents. name is
// used in error messages.
func Parse(data []byte, name string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, Errors{yamlError(name, err)}
	}
	cfg := Default()
	cfg.Path = name
	if len(root.Content) == 0 { // empty file: all defaults
		return cfg, cfg.validate(nil)
	}
	doc := root.Content[0]
	lines := map[string]int{}
	var errs Errors
	cfg.Warnings = expandEnv(doc)
	checkKeys(doc, reflect.TypeFor[Config](), "", name, lines, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	if err := doc.Decode(cfg); err != nil {
		return nil, Errors{yamlError(name, err)}
	}
	cfg.Path = name
	if err := cfg.validate(&lineIndex{file: name, lines: lines}); err != nil {
		return nil, err
	}
	return cfg, nil
}

// yamlError turns a yaml.v3 error ("yaml: line 3: ..." or a TypeError with
// "line 3: cannot unmarshal ...") into an Error with the line pulled out.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	var te *yaml.TypeError
	syntax := !errors.As(err, &te)
	if !syntax && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = msg[len(m[0]):]
	}
	msg = strings.Replace(msg, "!!str ", "string ", 1)
	if syntax {
		// yaml.v3 points at the start of the enclosing block.
		msg += " (YAML syntax: check the indentation and quoting from this line on)"
	}
	return &Error{File: file, Line: line, Err: errors.New(strings.TrimSpace(msg))}
}

var lineRe = regexp.MustCompile(`^line (\d+):\s*`)

// envRe matches ${VAR} and ${VAR:-default}.
var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expandEnv replaces ${VAR} in every scalar value and returns a warning for
// each variable that is not set.
func expandEnv(n *yaml.Node) []string {
	var warnings []string
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			n.Value = envRe.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRe.FindStringSubmatch(m)
				if v, ok := os.LookupEnv(sub[1]); ok {
					return v
				}
				if strings.Contains(m, ":-") {
					return sub[2]
				}
				warnings = append(warnings, fmt.Sprintf("line %d: ${%s} is not set in the environment; using \"\"", n.Line, sub[1]))
				return ""
			})
			if n.Tag == "!!null" || n.Tag == "" {
				n.Tag = "!!str"
			}
			n.Style = yaml.DoubleQuotedStyle
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return warnings
}

var durationType = reflect.TypeFor[Duration]()

// checkKeys walks the YAML tree along the Go type, reporting every key the
// type does not have, and records the line of every path it passes.
func checkKeys(n *yaml.Node, t reflect.Type, path, file string, lines map[string]int, errs *Errors) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			lines[p] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				msg := ErrUnknownKey.Error()
				if s := suggest(k.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += fmt.Sprintf(" (known keys here: %s)", strings.Join(sortedKeys(fields), ", "))
				}
				*errs = append(*errs, &Error{File: file, Line: k.Line, Field: p, Err: fmt.Errorf("%w%s", ErrUnknownKey, strings.TrimPrefix(msg, ErrUnknownKey.Error()))})
				continue
			}
			checkKeys(v, ft, p, file, lines, errs)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[p] = c.Line
			checkKeys(c, t.Elem(), p, file, lines, errs)
		}
	}
}

// yamlFields maps the YAML keys of a struct (inline fields flattened) to
// their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// suggest returns the known key closest to key, if it is close enough to be
// a typo.
func suggest[V any](key string, known map[string]V) string {
	return closest(key, sortedKeys(known))
}

func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if bestD > len(s)/2 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// lineIndex finds the line of a key path, falling back to its parents.
type lineIndex struct {
	file  string
	lines map[string]int
}

func (li *lineIndex) line(path string) int {
	if li == nil {
		return 0
	}
	for p := path; p != ""; {
		if l, ok := li.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}
