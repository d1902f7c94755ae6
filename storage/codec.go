package storage

import (
	"encoding/binary"
	"errors"

	"github.com/rankpulse/rankpulse/chart"
)

// The entries blob, shared by every backend: a version byte, a layout
// byte, then per entry the uvarint gap to the previous rank (layoutGaps
// only) and the uvarint reference of the entry's interned app. SQLite seals
// it with a checksum (decode.go: version sealedVersion, the same layout
// with four bytes after it).
const (
	packVersion      = 1
	layoutContiguous = 0
	layoutGaps       = 1
)

// PackedEntry is one entry of a blob: a rank and an interned app.
type PackedEntry struct {
	Rank int
	Ref  int64
}

// Pack encodes a snapshot's entries; refs[i] is the interned app of
// entries[i]. Ranks 1..n in a row (nearly every chart) are implied;
// otherwise each entry carries the gap to the rank before it.
func Pack(entries []chart.Entry, refs []int64) []byte {
	layout := byte(layoutContiguous)
	for i, e := range entries {
		if e.Rank != i+1 {
			layout = layoutGaps
			break
		}
	}
	blob := make([]byte, 2, 2+len(entries)*4+4)
	blob[0], blob[1] = packVersion, layout
	prev := 0
	for i, e := range entries {
		if layout == layoutGaps {
			blob = binary.AppendUvarint(blob, uint64(e.Rank-prev-1))
		}
		blob = binary.AppendUvarint(blob, uint64(refs[i]))
		prev = e.Rank
	}
	return blob
}

// Unpack decodes a blob made by Pack (or, its checksum cut off, one
// sealed).
func Unpack(blob []byte) ([]PackedEntry, error) {
	if len(blob) < 2 || (blob[0] != packVersion && blob[0] != sealedVersion) || blob[1] > layoutGaps {
		return nil, errors.New("unknown entries encoding")
	}
	gaps := blob[1] == layoutGaps
	var out []PackedEntry
	prev := 0
	for b := blob[2:]; len(b) > 0; {
		var gap uint64
		if gaps {
			var n int
			gap, n = binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("corrupt entries")
			}
			b = b[n:]
		}
		ref, m := binary.Uvarint(b)
		if m <= 0 {
			return nil, errors.New("corrupt entries")
		}
		b = b[m:]
		prev += int(gap) + 1
		out = append(out, PackedEntry{Rank: prev, Ref: int64(ref)})
	}
	return out, nil
}
