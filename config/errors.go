package config

import (
	"errors"
	"fmt"
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

// sorted returns the errors in file order; errors without a line (a
// missing key) come last.
func (es Errors) sorted() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	return es
}

// unexplained returns the validation errors that are not about a value
// already reported (and dropped) by es, or about what holds it: a dropped
// value leaves its field at its default, and whatever validation says
// about that follows from the first error.
func (es Errors) unexplained(found Errors) Errors {
	var out Errors
	for _, v := range found {
		explained := false
		for _, e := range es {
			// A key given twice drops the second value: validation is
			// about the first.
			if e.Field != "" && !errors.Is(e, ErrDuplicateKey) && (within(v.Field, e.Field) || within(e.Field, v.Field)) {
				explained = true
				break
			}
		}
		if !explained {
			out = append(out, v)
		}
	}
	return out
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: ...") into an
// Error with the line pulled out.
func yamlError(file string, err error) *Error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return typeErrors(file, te)[0]
	}
	e := yamlMessage(file, err.Error())
	// yaml.v3 points at the start of the enclosing block.
	e.Err = fmt.Errorf("%w (YAML syntax: check the indentation and quoting from this line on)", e.Err)
	return e
}

// typeErrors turns each problem of a yaml.v3 TypeError ("line 3: cannot
// unmarshal ...", "line 9: mapping key "x" already defined at line 4") into
// an Error.
func typeErrors(file string, te *yaml.TypeError) Errors {
	out := make(Errors, len(te.Errors))
	for i, msg := range te.Errors {
		out[i] = yamlMessage(file, msg)
	}
	return out
}

func yamlMessage(file, msg string) *Error {
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = msg[len(m[0]):]
	}
	msg = strings.Replace(msg, "!!str ", "string ", 1)
	return &Error{File: file, Line: line, Err: errors.New(strings.TrimSpace(msg))}
}

var lineRe = regexp.MustCompile(`^line (\d+):\s*`)

// within reports whether the key path p is base or lies beneath it.
func within(p, base string) bool {
	return p == base || strings.HasPrefix(p, base+".") || strings.HasPrefix(p, base+"[")
}
