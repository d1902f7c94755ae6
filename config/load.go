// Package config loads and validates the rankpulse YAML configuration
// (SPEC §2).
//
// Loading is strict: unknown keys, values of the wrong type, a key given
// twice and a second YAML document are errors, `${VAR}` and `${VAR:-default}`
// in any value are replaced from the environment (the value then decodes by
// the type of its field, and a string field gets the variable's text byte for
// byte), and defaults are applied for absent keys. One pass reports every
// problem, in file order: a key or value in error is set aside (its field
// keeps its default) and the rest is still decoded and validated. Every
// error names the file and the line (none for a file that cannot be read),
// and for a problem with a value its full key path and what is expected
// (for example `rankpulse.yaml:12:
// jobs[0].countries[3]: unknown country "uk" (did you mean "gb"?)` or
// `rankpulse.yaml:7: retention: got "90 days", want a duration like 90d, 36h
// or 15m`).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrUnknownKey is wrapped by the error for a key rankpulse does not know.
var ErrUnknownKey = errors.New("unknown key")

// ErrDuplicateKey is wrapped by the error for a key given twice in one
// mapping.
var ErrDuplicateKey = errors.New("given twice")

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
// is "". The error is an Errors value when the file cannot be read or has
// problems.
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
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the file already
		}
		err = fmt.Errorf("cannot read the config file: %w", err)
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w (run `rankpulse config example > %s` for a starting point)", err, path)
		}
		return nil, Errors{{File: path, Err: err}}
	}
	return Parse(data, path)
}

// Parse decodes, expands and validates a config file's contents. name is
// used in error messages.
func Parse(data []byte, name string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{yamlError(name, err)}
	}
	if err := extraDocument(dec, name); err != nil {
		return nil, Errors{err}
	}
	cfg := Default()
	cfg.Path = name
	if len(root.Content) == 0 { // empty file: all defaults
		return cfg, cfg.validate(nil)
	}
	doc := root.Content[0]
	c := &checker{file: name, lines: map[string]int{}}
	cfg.Warnings, c.env = expandEnv(doc)
	// The walk reports every unknown key and every value that does not
	// decode, and drops them from the tree (their fields keep their
	// defaults), so that decoding and validation go on and one pass
	// reports every problem in the file.
	c.walk(doc, reflect.TypeFor[Config](), "")
	errs := c.errs
	if err := doc.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, append(errs, yamlError(name, err)).sorted()
		}
		errs = append(errs, typeErrors(name, te)...) // e.g. a key given twice
	}
	cfg.Path = name
	if err := cfg.validate(&lineIndex{file: name, lines: c.lines}); err != nil {
		errs = append(errs, errs.unexplained(err.(Errors))...)
	}
	if len(errs) > 0 {
		return nil, errs.sorted()
	}
	return cfg, nil
}

// extraDocument reports a second YAML document (after "---"), which would
// otherwise be silently ignored. Empty documents are harmless.
func extraDocument(dec *yaml.Decoder, file string) *Error {
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return yamlError(file, err)
		case len(doc.Content) > 0 && doc.Content[0].ShortTag() != "!!null":
			return &Error{File: file, Line: doc.Line, Err: errors.New("a second YAML document starts here: rankpulse reads only one; merge it into the first or delete it")}
		}
	}
}

// envRe matches ${VAR} and ${VAR:-default}.
var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expandEnv replaces ${VAR} in every scalar and returns a warning for each
// variable that is not set, and the expanded scalars with their text before
// expansion. An expanded scalar is tagged a string (its exact text); the
// checker re-tags it by the type of its field.
func expandEnv(n *yaml.Node) (warnings []string, expanded map[*yaml.Node]string) {
	expanded = map[*yaml.Node]string{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			expanded[n] = n.Value
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
			n.Tag = "!!str"
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return warnings, expanded
}

var durationType = reflect.TypeFor[Duration]()

// checker walks the YAML tree along the Go type before it is decoded: it
// reports every key the type does not have and every value that does not
// decode into its field, records the line of every path it passes, and makes
// each ${VAR}-expanded value decode by the type of its field.
type checker struct {
	file  string
	lines map[string]int
	env   map[*yaml.Node]string // expanded scalars → their text before expansion
	errs  Errors
}

func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := yamlFields(t)
		kept := n.Content[:0:0]
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if c.duplicate(seen, k, p) {
				continue
			}
			c.lines[p] = k.Line
			ft, ok := fields[k.Value]
			if !ok {
				hint := fmt.Sprintf(" (known keys here: %s)", strings.Join(sortedKeys(fields), ", "))
				if s := suggest(k.Value, fields); s != "" {
					hint = fmt.Sprintf(" (did you mean %q?)", s)
				}
				c.errs = append(c.errs, &Error{File: c.file, Line: k.Line, Field: p, Err: fmt.Errorf("%w%s", ErrUnknownKey, hint)})
				continue // dropped
			}
			c.walk(v, ft, p)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		kept := n.Content[:0:0]
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinPath(path, k.Value)
			if c.duplicate(seen, k, p) {
				continue
			}
			c.lines[p] = k.Line
			c.walk(k, t.Key(), p)
			c.walk(v, t.Elem(), p)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.lines[p] = e.Line
			c.walk(e, t.Elem(), p)
		}
	default:
		c.value(n, t, path)
	}
}

// duplicate reports a key given twice in one mapping (yaml.v3 would refuse
// the whole mapping); the second is dropped.
func (c *checker) duplicate(seen map[string]int, k *yaml.Node, path string) bool {
	first, dup := seen[k.Value]
	if !dup {
		seen[k.Value] = k.Line
		return false
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: k.Line, Field: path, Err: fmt.Errorf("%w (first at line %d): keep one", ErrDuplicateKey, first)})
	return true
}

// value checks that a scalar (or a node of the wrong kind) decodes into t.
func (c *checker) value(n *yaml.Node, t reflect.Type, path string) {
	orig, expanded := c.env[n]
	if expanded {
		// The text decodes by its field's type and is never parsed as
		// YAML: a string field gets it byte for byte; any other field the
		// plain scalar it spells (50, false, 2.5, 90d), unless that would
		// be null.
		n.Tag, n.Style = "", 0
		if t.Kind() == reflect.String || n.ShortTag() == "!!null" {
			n.Tag = "!!str"
		}
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	te := &typeError{want: want(t), err: err}
	switch {
	case expanded:
		te.got = fmt.Sprintf("the expansion of %q", orig) // it may be a secret
	case n.Kind == yaml.ScalarNode:
		te.got = strconv.Quote(n.Value)
		plain := yaml.Node{Kind: yaml.ScalarNode, Value: n.Value}
		if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0 && plain.Decode(reflect.New(t).Interface()) == nil {
			te.want += " (remove the quotes)"
		}
	case n.Kind == yaml.SequenceNode:
		te.got = "a list"
	case n.Kind == yaml.MappingNode:
		te.got = "a mapping"
	default:
		te.got = "an alias"
	}
	line := c.lines[path]
	if line == 0 {
		line = n.Line
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Field: path, Err: te})
	// Dropped: a null leaves the field at its default (an empty list for
	// a list element).
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// typeError is a value that does not decode into its field; err is
// yaml.v3's own account of it.
type typeError struct {
	got, want string
	err       error
}

func (e *typeError) Error() string { return "got " + e.got + ", want " + e.want }
func (e *typeError) Unwrap() error { return e.err }

// want says what a field of type t takes.
func want(t reflect.Type) string {
	if t == durationType {
		return "a duration like 90d, 36h or 15m"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
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
