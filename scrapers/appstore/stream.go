package appstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/rankpulse/rankpulse/scrapers"
)

// Token-by-token reading, for the answers whose size the store decides (the
// ids of a chart, the results of a lookup): the parser reads what it needs
// and stops, instead of decoding a hostile answer whole.

// expectDelim reads the next token and checks it is delim.
func expectDelim(dec *json.Decoder, body []byte, delim json.Delim, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return streamErr(err, body, path)
	}
	if d, ok := tok.(json.Delim); !ok || d != delim {
		return scrapers.PathErr(path, "got JSON %s, want %s", tokenKind(tok), delimKind(delim))
	}
	return nil
}

// objectKey reads the next key of an object.
func objectKey(dec *json.Decoder, body []byte) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", streamErr(err, body, "$")
	}
	key, ok := tok.(string)
	if !ok {
		return "", scrapers.PathErr("$", "got JSON %s where a key was expected", tokenKind(tok))
	}
	return key, nil
}

// skipValue reads past the next value without keeping it.
func skipValue(dec *json.Decoder, body []byte) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return streamErr(err, body, "$")
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
			default:
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// streamErr turns a decoder's error into a PathError that tells a truncated
// body from one that is not JSON or has the wrong types.
func streamErr(err error, body []byte, path string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &se) && se.Offset >= int64(len(bytes.TrimRight(body, " \r\n\t"))):
		return scrapers.PathErr("$", "truncated JSON (%d bytes): %w", len(body), io.ErrUnexpectedEOF)
	case errors.As(err, &te):
		return scrapers.PathErr(path+"."+te.Field, "got JSON %s, want %s", te.Value, te.Type)
	}
	return scrapers.PathErr("$", "not valid JSON: %w", err)
}

func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "object"
		}
		if t == '[' {
			return "array"
		}
		return fmt.Sprintf("%q", string(t))
	case string:
		return "string"
	case nil:
		return "null"
	case bool:
		return "bool"
	}
	return "number"
}

func delimKind(d json.Delim) string {
	if d == '{' {
		return "an object"
	}
	return "an array"
}
