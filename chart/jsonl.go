package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// LineError is a snapshot JSONL line that could not be used.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Reader reads snapshot JSONL (SPEC §3) one line at a time, without a limit on
// line length. Blank lines are skipped.
type Reader struct {
	r    *bufio.Reader
	line int
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 256<<10)}
}

// Next returns the next snapshot. At the end of the input it returns io.EOF.
// A bad line yields a *LineError; the caller may go on calling Next to skip
// it. Every returned snapshot has passed Validate.
func (r *Reader) Next() (Snapshot, error) {
	for {
		raw, err := r.r.ReadBytes('\n')
		if len(raw) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return Snapshot{}, io.EOF
			}
			return Snapshot{}, fmt.Errorf("read snapshot jsonl: %w", err)
		}
		r.line++
		if r.line == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\ufeff")) // a byte-order mark some editors write
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		s, perr := ParseLine(raw)
		if perr != nil {
			return Snapshot{}, &LineError{Line: r.line, Err: perr}
		}
		return s, nil
	}
}

// Line returns the number of the line last read.
func (r *Reader) Line() int { return r.line }

// ParseLine decodes and validates one snapshot JSON object. Unknown fields
// are errors, so that a misspelt key is not silently dropped, and so is a
// snapshot no store could have given (see Validate; a complete one must
// list every rank from 1 down to its depth).
func ParseLine(raw []byte) (Snapshot, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s Snapshot
	if err := dec.Decode(&s); err != nil {
		return Snapshot{}, fmt.Errorf("not a snapshot JSON object: %w", err)
	}
	if dec.More() {
		return Snapshot{}, errors.New("not a snapshot JSON object: more than one JSON value on the line")
	}
	s.Time = SlotTime(s.Time)
	if err := s.Validate(); err != nil {
		return Snapshot{}, err
	}
	if err := s.checkRead(); err != nil {
		return Snapshot{}, err
	}
	return s, nil
}

// Writer writes snapshot JSONL.
type Writer struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewWriter returns a Writer; call Flush when done.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{w: bw, enc: enc}
}

// Write writes one snapshot as one line.
func (w *Writer) Write(s *Snapshot) error {
	if s.Entries == nil {
		s.Entries = []Entry{}
	}
	if err := w.enc.Encode(s); err != nil {
		return fmt.Errorf("write snapshot jsonl: %w", err)
	}
	return nil
}

// Flush flushes buffered lines.
func (w *Writer) Flush() error {
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write snapshot jsonl: %w", err)
	}
	return nil
}
