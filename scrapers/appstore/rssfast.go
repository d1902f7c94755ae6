package appstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf8"
)

// A legacy RSS feed is about 4.5 KB of JSON per app (images, links, prices,
// all of which we skip) and 450 KB per 100-app chart: decoding it with
// encoding/json costs about five passes over the body (Unmarshal validates
// before it decodes, and the entry list is a RawMessage decoded again,
// twice in oneOrMany). scanRSS reads the same fields in one validating
// pass. It is deliberately narrow: anything it is not sure encoding/json
// would read the same way — a syntax error, a value of another type, a
// null, a key that matches a field only case-insensitively, a duplicate
// key, an escape in a key — makes it give up (ok=false), and ParseRSS
// decodes the body the old way, so every error message and every odd case
// stays exactly what it was. Being stricter than encoding/json costs speed
// on odd input, never a different answer.

// scanner walks a JSON body (the legacy feed here, lookup answers in
// lookupfast.go). pos is the next byte to read.
type scanner struct {
	b   []byte
	pos int
}

// maxScanDepth bounds nesting (encoding/json allows 10,000; deeper input
// goes to it).
const maxScanDepth = 64

// scanRSS returns the feed's entries as decodeRSS would, or ok=false (a
// feed without entries too: decodeRSS says which error that is).
func scanRSS(body []byte) (entries []rssEntry, ok bool) {
	var hasEntry bool
	s := &scanner{b: body}
	s.ws()
	ok = s.object(func(key []byte) bool {
		if string(key) != "feed" {
			return s.skip(1)
		}
		return s.object(func(key []byte) bool {
			switch string(key) {
			case "entry":
				hasEntry = true
				var ok bool
				entries, ok = s.entries()
				return ok
			case "id":
				var l label
				return s.label(&l)
			}
			return s.skip(2)
		}, "entry", "id")
	}, "feed")
	s.ws()
	if !ok || !hasEntry || s.pos != len(s.b) {
		return nil, false
	}
	return entries, true
}

// entries reads "entry": an array of entry objects, or one object.
func (s *scanner) entries() ([]rssEntry, bool) {
	switch s.peek() {
	case '{':
		var e rssEntry
		if !s.entry(&e) {
			return nil, false
		}
		return []rssEntry{e}, true
	case '[':
	default:
		return nil, false
	}
	s.pos++
	out := make([]rssEntry, 0, 100)
	s.ws()
	if s.peek() == ']' {
		s.pos++
		return out, true
	}
	for {
		s.ws()
		if s.peek() != '{' {
			return nil, false
		}
		var e rssEntry
		if !s.entry(&e) {
			return nil, false
		}
		out = append(out, e)
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return out, true
		default:
			return nil, false
		}
	}
}

// entry reads one entry object into e.
func (s *scanner) entry(e *rssEntry) bool {
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "im:name":
			e.Name = &label{}
			return s.label(e.Name)
		case "im:artist":
			e.Artist = &label{}
			return s.label(e.Artist)
		case "id":
			e.ID = &rssID{}
			return s.object(func(key []byte) bool {
				switch string(key) {
				case "label":
					return s.str(&e.ID.Label)
				case "attributes":
					e.ID.Attributes = &rssAttrs{}
					return s.object(func(key []byte) bool {
						switch string(key) {
						case "im:id":
							return s.str(&e.ID.Attributes.ID)
						case "im:bundleId":
							return s.str(&e.ID.Attributes.BundleID)
						}
						return s.skip(6)
					}, "im:id", "im:bundleId")
				}
				return s.skip(5)
			}, "label", "attributes")
		}
		return s.skip(4)
	}, "im:name", "im:artist", "id")
}

// label reads {"label": "…", …}.
func (s *scanner) label(l *label) bool {
	return s.object(func(key []byte) bool {
		if string(key) == "label" {
			return s.str(&l.Label)
		}
		return s.skip(8)
	}, "label")
}

// object reads an object, calling field for each key (the scanner then
// at its value), which must read the value. fields are the keys field
// handles: a key equal to one of them only case-insensitively, or one of
// them twice, makes the scan give up.
func (s *scanner) object(field func(key []byte) bool, fields ...string) bool {
	s.ws()
	if s.peek() != '{' {
		return false
	}
	s.pos++
	var seen uint8
	s.ws()
	if s.peek() == '}' {
		s.pos++
		return true
	}
	for {
		s.ws()
		key, ok := s.key()
		if !ok {
			return false
		}
		for i, f := range fields {
			if string(key) == f {
				if seen&(1<<i) != 0 {
					return false
				}
				seen |= 1 << i
			} else if bytes.EqualFold(key, []byte(f)) {
				return false
			}
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.pos++
		s.ws()
		if !field(key) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return true
		default:
			return false
		}
	}
}

// key reads an object key without escapes.
func (s *scanner) key() ([]byte, bool) {
	start := s.pos + 1
	if !s.skipString() {
		return nil, false
	}
	k := s.b[start : s.pos-1]
	if bytes.IndexByte(k, '\\') >= 0 {
		return nil, false
	}
	return k, true
}

// str reads a string value into *dst, as encoding/json would decode it.
func (s *scanner) str(dst *string) bool {
	start := s.pos
	if !s.skipString() {
		return false
	}
	raw := s.b[start:s.pos]
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		*dst = string(inner)
		return true
	}
	return json.Unmarshal(raw, dst) == nil // escapes, invalid UTF-8: its rules
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// strByte marks the bytes that end a run of plain string bytes.
var strByte = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// nextSpecial returns the index of the first byte from i on that ends a
// run of plain string bytes (a control character, a quote, a backslash),
// or len(b). It tests eight bytes at a time (SWAR): each test sets the high
// bit of every special byte, and of no byte below the first special one, so
// the lowest bit set is the first special byte.
func nextSpecial(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(ones*'"'), x^(ones*'\\')
		if m := ((x-ones*0x20)&^x | (q-ones)&^q | (bs-ones)&^bs) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b) && !strByte[b[i]]; i++ {
	}
	return i
}

// skipString reads past a string, checking its escapes and that it has no
// control characters.
func (s *scanner) skipString() bool {
	if s.peek() != '"' {
		return false
	}
	b, i := s.b, s.pos+1
	for {
		if i = nextSpecial(b, i); i >= len(b) {
			return false
		}
		c := b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return true
		case c < 0x20:
			return false
		}
		// a backslash
		if i+1 >= len(b) {
			return false
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return false
			}
			for _, h := range b[i+2 : i+6] {
				if !isHex(h) {
					return false
				}
			}
			i += 6
		default:
			return false
		}
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// skip reads past any value, validating it; depth is how deep it sits.
func (s *scanner) skip(depth int) bool {
	if depth > maxScanDepth {
		return false
	}
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		s.pos++
		s.ws()
		if s.peek() == ']' {
			s.pos++
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			s.ws()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return true
			default:
				return false
			}
		}
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if !bytes.HasPrefix(s.b[s.pos:], []byte(lit)) {
		return false
	}
	s.pos += len(lit)
	return true
}

// number reads a number by JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	b, i := s.b, s.pos
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.pos = i
	return true
}

func (s *scanner) peek() byte {
	if s.pos < len(s.b) {
		return s.b[s.pos]
	}
	return 0
}

func (s *scanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}
