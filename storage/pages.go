package storage

// This file reads an SQLite database file page by page, without SQLite,
// for `rankpulse db recover` and `db check`: a file whose header, schema or
// b-tree pages are damaged cannot be opened or walked by SQLite, but every
// table leaf page that survived still holds its rows. It follows the file
// format (https://www.sqlite.org/fileformat2.html): the header, the
// committed frames of the WAL, the freelist, b-tree pages and their cells,
// overflow chains and records. It only reads.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

var sqliteMagic = []byte("SQLite format 3\x00")

// Page types.
const (
	pageIndexInterior = 2
	pageTableInterior = 5
	pageIndexLeaf     = 10
	pageTableLeaf     = 13
)

// image is a database file as SQLite would read it: its pages, with the
// WAL's committed frames in place of the file's copies.
type image struct {
	f        *os.File
	pageSize int
	usable   int // page size less the reserved bytes
	pages    uint32
	wal      *os.File
	frames   map[uint32]int64 // page → offset of its newest committed copy in the WAL
	headerOK bool             // the file header is SQLite's, with a sane page size
	freelist map[uint32]bool  // pages the freelist holds (when it could be read)
}

// openImage opens the database file at path (and path-wal, if there is
// one) for reading pages.
func openImage(path string) (*image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	im := &image{f: f}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	hdr := make([]byte, 100)
	n, _ := io.ReadFull(f, hdr)
	hdr = hdr[:n]
	if n == 100 && bytes.Equal(hdr[:16], sqliteMagic) {
		ps := int(binary.BigEndian.Uint16(hdr[16:18]))
		if ps == 1 {
			ps = 65536
		}
		if validPageSize(ps) && int(hdr[20]) < ps/2 {
			im.pageSize, im.usable, im.headerOK = ps, ps-int(hdr[20]), true
		}
	}
	if w, err := os.Open(path + "-wal"); err == nil {
		im.wal = w
		if err := im.readWAL(); err != nil {
			im.frames = nil
		}
	}
	if im.pageSize == 0 {
		im.guessPageSize(fi.Size())
	}
	im.pages = uint32(fi.Size() / int64(im.pageSize))
	for p := range im.frames {
		im.pages = max(im.pages, p)
	}
	if im.headerOK {
		im.readFreelist(hdr)
	}
	return im, nil
}

func (im *image) Close() error {
	if im.wal != nil {
		im.wal.Close()
	}
	return im.f.Close()
}

func validPageSize(n int) bool { return n >= 512 && n <= 65536 && n&(n-1) == 0 }

// page returns page n (1-based), or nil past the end or when it cannot be
// read.
func (im *image) page(n uint32) []byte {
	if n == 0 || n > im.pages {
		return nil
	}
	buf := make([]byte, im.pageSize)
	if off, ok := im.frames[n]; ok {
		if _, err := im.wal.ReadAt(buf, off); err == nil {
			return buf
		}
	}
	if _, err := im.f.ReadAt(buf, int64(n-1)*int64(im.pageSize)); err != nil {
		return nil
	}
	return buf
}

// readWAL finds the WAL's committed frames: those whose salts match the
// WAL header and whose running checksum holds, up to the last commit.
func (im *image) readWAL() error {
	hdr := make([]byte, 32)
	if _, err := io.ReadFull(im.wal, hdr); err != nil {
		return err
	}
	magic := binary.BigEndian.Uint32(hdr)
	if magic != 0x377f0682 && magic != 0x377f0683 {
		return errors.New("not a WAL")
	}
	var order binary.ByteOrder = binary.LittleEndian
	if magic&1 == 1 {
		order = binary.BigEndian
	}
	ps := int(binary.BigEndian.Uint32(hdr[8:12]))
	if !validPageSize(ps) || (im.pageSize != 0 && ps != im.pageSize) {
		return errors.New("WAL page size")
	}
	s0, s1 := walChecksum(order, hdr[:24], 0, 0)
	if s0 != binary.BigEndian.Uint32(hdr[24:28]) || s1 != binary.BigEndian.Uint32(hdr[28:32]) {
		return errors.New("WAL header checksum")
	}
	if im.pageSize == 0 {
		im.pageSize, im.usable = ps, ps // the reserved bytes are in the damaged header; 0 is SQLite's default
	}
	frame := make([]byte, 24+ps)
	committed := map[uint32]int64{}
	pending := map[uint32]int64{}
	for off := int64(32); ; off += int64(len(frame)) {
		if _, err := im.wal.ReadAt(frame, off); err != nil {
			break
		}
		if !bytes.Equal(frame[8:16], hdr[16:24]) {
			break
		}
		s0, s1 = walChecksum(order, frame[:8], s0, s1)
		s0, s1 = walChecksum(order, frame[24:], s0, s1)
		if s0 != binary.BigEndian.Uint32(frame[16:20]) || s1 != binary.BigEndian.Uint32(frame[20:24]) {
			break
		}
		pending[binary.BigEndian.Uint32(frame[0:4])] = off + 24
		if binary.BigEndian.Uint32(frame[4:8]) != 0 { // a commit
			for p, o := range pending {
				committed[p] = o
			}
			clear(pending)
		}
	}
	im.frames = committed
	return nil
}

func walChecksum(order binary.ByteOrder, b []byte, s0, s1 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// guessPageSize picks, for a file whose header is damaged, the page size
// under which most pages read as b-tree pages.
func (im *image) guessPageSize(size int64) {
	best, bestScore := 4096, -1
	for ps := 512; ps <= 65536; ps *= 2 {
		score := 0
		for off := int64(ps); off+int64(ps) <= size && off < int64(ps)*4096; off += int64(ps) {
			b := make([]byte, ps)
			if _, err := im.f.ReadAt(b, off); err == nil && plausiblePage(b, 0, ps) {
				score++
			}
		}
		if score > bestScore {
			best, bestScore = ps, score
		}
	}
	im.pageSize, im.usable = best, best
}

// plausiblePage reports whether b holds a b-tree page header at hdr.
func plausiblePage(b []byte, hdr, usable int) bool {
	if len(b) < hdr+8 {
		return false
	}
	t := b[hdr]
	if t != pageIndexInterior && t != pageTableInterior && t != pageIndexLeaf && t != pageTableLeaf {
		return false
	}
	n := int(binary.BigEndian.Uint16(b[hdr+3:]))
	start := int(binary.BigEndian.Uint16(b[hdr+5:]))
	if start == 0 {
		start = 65536
	}
	hsize := 8
	if t == pageIndexInterior || t == pageTableInterior {
		hsize = 12
	}
	return hdr+hsize+2*n <= start && start <= usable
}

// readFreelist records the pages on the freelist, so that the rows of
// pages SQLite freed (deleted or pruned) are not brought back.
func (im *image) readFreelist(hdr []byte) {
	im.freelist = map[uint32]bool{}
	trunk := binary.BigEndian.Uint32(hdr[32:36])
	for seen := 0; trunk != 0 && seen < int(im.pages); seen++ {
		if im.freelist[trunk] {
			return
		}
		b := im.page(trunk)
		if b == nil {
			return
		}
		im.freelist[trunk] = true
		n := int(binary.BigEndian.Uint32(b[4:8]))
		for i := 0; i < n && 8+4*i+4 <= im.usable; i++ {
			if p := binary.BigEndian.Uint32(b[8+4*i:]); p != 0 && p <= im.pages {
				im.freelist[p] = true
			}
		}
		trunk = binary.BigEndian.Uint32(b[0:4])
	}
}

// btreePage is one parsed b-tree page.
type btreePage struct {
	no    uint32
	typ   byte
	data  []byte
	cells []int // offsets of the cells
	right uint32
}

// parsePage parses page no as a b-tree page, or returns nil.
func (im *image) parsePage(no uint32) *btreePage {
	b := im.page(no)
	if b == nil {
		return nil
	}
	hdr := 0
	if no == 1 {
		hdr = 100
	}
	if !plausiblePage(b, hdr, im.usable) {
		return nil
	}
	p := &btreePage{no: no, typ: b[hdr], data: b}
	hsize := 8
	if p.typ == pageIndexInterior || p.typ == pageTableInterior {
		hsize = 12
		p.right = binary.BigEndian.Uint32(b[hdr+8:])
	}
	n := int(binary.BigEndian.Uint16(b[hdr+3:]))
	for i := range n {
		off := int(binary.BigEndian.Uint16(b[hdr+hsize+2*i:]))
		if off < hdr+hsize+2*n || off >= im.usable {
			continue // a damaged pointer: that cell is lost
		}
		p.cells = append(p.cells, off)
	}
	return p
}

// varint reads an SQLite varint (1 to 9 bytes, big-endian).
func varint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < 8; i++ {
		if i >= len(b) {
			return 0, 0
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	if len(b) < 9 {
		return 0, 0
	}
	return v<<8 | uint64(b[8]), 9
}

// child returns the left child page of an interior cell.
func (p *btreePage) child(cell int) uint32 {
	if cell+4 > len(p.data) {
		return 0
	}
	return binary.BigEndian.Uint32(p.data[cell:])
}

var errCell = errors.New("damaged cell")

// tableCell reads a table leaf cell: its rowid and its payload, overflow
// chain included.
func (im *image) tableCell(p *btreePage, cell int) (rowid int64, payload []byte, err error) {
	b := p.data[cell:im.usable]
	size, n := varint(b)
	if n == 0 {
		return 0, nil, errCell
	}
	id, m := varint(b[n:])
	if m == 0 {
		return 0, nil, errCell
	}
	payload, err = im.payload(b[n+m:], size, im.usable-35)
	return int64(id), payload, err
}

// indexCell reads the payload of an index cell (leaf or interior).
func (im *image) indexCell(p *btreePage, cell int) ([]byte, error) {
	b := p.data[cell:im.usable]
	if p.typ == pageIndexInterior {
		if len(b) < 4 {
			return nil, errCell
		}
		b = b[4:]
	}
	size, n := varint(b)
	if n == 0 {
		return nil, errCell
	}
	return im.payload(b[n:], size, (im.usable-12)*64/255-23)
}

// payload assembles a cell's payload of size bytes from local (the bytes
// after the cell's header) and its overflow pages; maxLocal is X of the
// file format.
func (im *image) payload(local []byte, size uint64, maxLocal int) ([]byte, error) {
	u := im.usable
	if size > 1<<30 {
		return nil, errCell
	}
	if int(size) <= maxLocal {
		if int(size) > len(local) {
			return nil, errCell
		}
		return local[:size], nil
	}
	minLocal := (u-12)*32/255 - 23
	k := minLocal + (int(size)-minLocal)%(u-4)
	if k > maxLocal {
		k = minLocal
	}
	if k+4 > len(local) {
		return nil, errCell
	}
	out := make([]byte, 0, size)
	out = append(out, local[:k]...)
	next := binary.BigEndian.Uint32(local[k:])
	seen := map[uint32]bool{}
	for len(out) < int(size) {
		if next == 0 || seen[next] {
			return nil, errCell
		}
		seen[next] = true
		b := im.page(next)
		if b == nil {
			return nil, errCell
		}
		take := min(int(size)-len(out), u-4)
		out = append(out, b[4:4+take]...)
		next = binary.BigEndian.Uint32(b[0:4])
	}
	return out, nil
}

// decodeRecord decodes a record: each value nil, int64, float64, string or
// []byte.
func decodeRecord(b []byte) ([]any, error) {
	hsize, n := varint(b)
	if n == 0 || hsize < uint64(n) || hsize > uint64(len(b)) {
		return nil, errCell
	}
	var types []uint64
	for pos := n; pos < int(hsize); {
		t, m := varint(b[pos:hsize])
		if m == 0 {
			return nil, errCell
		}
		types = append(types, t)
		pos += m
	}
	body := b[hsize:]
	vals := make([]any, len(types))
	for i, t := range types {
		var w int
		switch {
		case t == 0, t == 8, t == 9:
			vals[i] = map[uint64]any{0: nil, 8: int64(0), 9: int64(1)}[t]
			continue
		case t >= 1 && t <= 6:
			w = [...]int{0, 1, 2, 3, 4, 6, 8}[t]
		case t == 7:
			w = 8
		case t >= 12:
			w = int((t - 12) / 2)
		default:
			return nil, errCell
		}
		if w > len(body) {
			return nil, errCell
		}
		v := body[:w]
		body = body[w:]
		switch {
		case t <= 6:
			var x int64
			for _, c := range v {
				x = x<<8 | int64(c)
			}
			if shift := 64 - 8*uint(w); shift < 64 {
				x = x << shift >> shift // sign-extend
			}
			vals[i] = x
		case t == 7:
			vals[i] = math.Float64frombits(binary.BigEndian.Uint64(v))
		case t%2 == 0:
			vals[i] = bytes.Clone(v)
		default:
			vals[i] = string(v)
		}
	}
	if len(body) != 0 {
		return nil, fmt.Errorf("%w: %d bytes past the record", errCell, len(body))
	}
	return vals, nil
}
