package influx

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// spool is a bounded, ordered queue of line-protocol batches on disk: one
// gzip file per batch, named by sequence number, written to a temporary name
// and renamed into place so a crash never leaves half a batch in the queue.
//
// A batch the disk does not take (a full disk, an I/O error) is kept in
// memory instead, compressed, in its place in the queue, bounded by
// memMax: past it the oldest batch held in memory is dropped, logged and
// counted. Batches held in memory are written to disk as soon as it takes
// them (at the next batch, and at each attempt of the drainer), replayed
// from memory if InfluxDB comes back first, and lost — said so — only if
// the process stops while the disk still refuses them.
type spool struct {
	dir      string
	maxBytes int64
	memMax   int64
	log      *slog.Logger

	mu       sync.Mutex
	files    []spoolFile // oldest first
	bytes    int64       // on disk
	memBytes int64       // held in memory
	next     uint64
	diskErr  error // why the last batch held in memory is not on disk
}

type spoolFile struct {
	seq   uint64
	size  int64
	lines int
	mem   []byte // the gzip file, while the disk does not take it
}

// spoolMemMax bounds the batches held in memory while the disk is full:
// compressed, about 3 million points.
const spoolMemMax = 64 << 20

const spoolExt = ".lp.gz"

func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, memMax: min(spoolMemMax, maxBytes), log: slog.Default(), next: 1}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") { // a write cut short by a crash
			os.Remove(filepath.Join(dir, name))
			continue
		}
		seqStr, lines, ok := parseSpoolName(name)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("influx spool: %w", err)
		}
		s.files = append(s.files, spoolFile{seq: seqStr, size: info.Size(), lines: lines})
		s.bytes += info.Size()
		s.next = max(s.next, seqStr+1)
	}
	sort.Slice(s.files, func(i, j int) bool { return s.files[i].seq < s.files[j].seq })
	return s, nil
}

// File names are <seq>-<lines>.lp.gz.
func parseSpoolName(name string) (seq uint64, lines int, ok bool) {
	base, found := strings.CutSuffix(name, spoolExt)
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(base, "-")
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	lines, err2 := strconv.Atoi(b)
	return seq, lines, err1 == nil && err2 == nil
}

func (s *spool) path(f spoolFile) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d-%d%s", f.seq, f.lines, spoolExt))
}

// spoolWriter compresses one batch for the spool.
type spoolWriter struct {
	s     *spool
	buf   bytes.Buffer
	zw    *gzip.Writer
	bw    *bufio.Writer
	lines int
}

// begin starts a new batch; add lines, then commit (or abort) it. The
// batch is compressed in memory and written at commit, so that a disk
// that refuses it loses nothing: the batch stays in memory.
func (s *spool) begin() (*spoolWriter, error) {
	w := &spoolWriter{s: s}
	w.zw = gzip.NewWriter(&w.buf)
	w.bw = bufio.NewWriterSize(w.zw, 64<<10)
	return w, nil
}

// addLines adds n lines, joined by newlines in body.
func (w *spoolWriter) addLines(body []byte, n int) {
	w.bw.Write(body)
	w.bw.WriteByte('\n')
	w.lines += n
}

func (w *spoolWriter) abort() {}

// commit makes the batch part of the spool: on disk, atomically, or, when
// the disk does not take it, in memory.
func (w *spoolWriter) commit() (dropped []int, err error) {
	if w.lines == 0 {
		return nil, nil
	}
	if err := errors.Join(w.bw.Flush(), w.zw.Close()); err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.persistLocked() // earlier batches held in memory go first
	f := spoolFile{seq: s.next, lines: w.lines, mem: w.buf.Bytes()}
	s.next++
	if len(s.files) == 0 || s.files[len(s.files)-1].mem == nil {
		if err := s.writeLocked(&f); err != nil {
			s.holdLocked(err, f)
		}
	} else {
		s.holdLocked(nil, f) // behind batches the disk refused: in order
	}
	s.files = append(s.files, f)
	if f.mem == nil {
		s.bytes += f.size
	}
	for s.bytes > s.maxBytes && len(s.files) > 1 && s.files[0].mem == nil {
		old := s.files[0]
		if err := os.Remove(s.path(old)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dropped, fmt.Errorf("influx spool: %w", err)
		}
		s.files = s.files[1:]
		s.bytes -= old.size
		dropped = append(dropped, old.lines)
	}
	for s.memBytes > s.memMax && len(s.files) > 1 {
		i := slicesIndexMem(s.files)
		old := s.files[i]
		s.files = append(s.files[:i], s.files[i+1:]...)
		s.memBytes -= int64(len(old.mem))
		dropped = append(dropped, old.lines)
		s.log.Error("influxdb spool: points lost: the disk still refuses the spool and the memory held for it is full; the oldest batch held in memory is dropped",
			"points", old.lines, "memory_max", s.memMax, "error", s.diskErr)
	}
	return dropped, nil
}

func slicesIndexMem(files []spoolFile) int {
	for i, f := range files {
		if f.mem != nil {
			return i
		}
	}
	return 0
}

// writeLocked writes a batch held in memory to its file (through a
// temporary name, synced), and lets go of the memory.
func (s *spool) writeLocked(f *spoolFile) error {
	fh, err := os.CreateTemp(s.dir, "batch-*.tmp")
	if err != nil {
		return err
	}
	tmp := fh.Name()
	_, err = fh.Write(f.mem)
	err = errors.Join(err, fh.Sync(), fh.Close())
	if err == nil {
		err = os.Rename(tmp, s.path(*f))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	f.size, f.mem = int64(len(f.mem)), nil
	return nil
}

// holdLocked keeps f in memory (the disk refused it with err, or refuses
// the batches before it).
func (s *spool) holdLocked(err error, f spoolFile) {
	s.memBytes += int64(len(f.mem))
	if err != nil {
		if s.diskErr == nil {
			s.log.Error("influxdb spool: the disk does not take the spool; batches are held in memory until it does", "dir", s.dir, "points", f.lines, "memory_max", s.memMax, "error", err)
		}
		s.diskErr = err
	}
}

// persist writes the batches held in memory to disk, oldest first, until
// the disk refuses one. It reports whether none is left in memory.
func (s *spool) persist() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.persistLocked()
}

func (s *spool) persistLocked() bool {
	for i := range s.files {
		f := &s.files[i]
		if f.mem == nil {
			continue
		}
		n := int64(len(f.mem))
		if err := s.writeLocked(f); err != nil {
			s.diskErr = err
			return false
		}
		s.memBytes -= n
		s.bytes += f.size
		if s.memBytes == 0 {
			s.log.Info("influxdb spool: the disk takes the spool again; the batches held in memory are on disk", "dir", s.dir)
			s.diskErr = nil
		}
	}
	return true
}

// close writes what it can of the batches held in memory to disk and
// reports what is lost with the process.
func (s *spool) close() {
	if s.persist() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	batches, points := 0, 0
	for _, f := range s.files {
		if f.mem != nil {
			batches++
			points += f.lines
		}
	}
	s.log.Error("influxdb spool: points lost: rankpulse is stopping and the disk still refuses the batches held in memory", "batches", batches, "points", points, "dir", s.dir, "error", s.diskErr)
}

func writeGzipLines(path string, lines []string) (int64, error) {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return 0, err
	}
	zw := gzip.NewWriter(fh)
	bw := bufio.NewWriterSize(zw, 64<<10)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	err = errors.Join(bw.Flush(), zw.Close(), fh.Sync())
	info, serr := fh.Stat()
	err = errors.Join(err, serr, fh.Close())
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}

// oldest returns the oldest batch, or ok=false when the spool is empty.
func (s *spool) oldest() (spoolFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) == 0 {
		return spoolFile{}, false
	}
	return s.files[0], true
}

// read returns a batch's lines.
func (s *spool) read(f spoolFile) ([]string, error) {
	var src io.Reader = bytes.NewReader(f.mem)
	if f.mem == nil {
		fh, err := os.Open(s.path(f))
		if err != nil {
			return nil, fmt.Errorf("influx spool: %w", err)
		}
		defer fh.Close()
		src = fh
	}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, fmt.Errorf("influx spool: %s: %w", s.path(f), err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("influx spool: %s: %w", s.path(f), err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		lines = nil
	}
	return lines, nil
}

// remove deletes a delivered (or rejected) batch. When rejectDir is set the
// file is moved there instead, for inspection.
func (s *spool) remove(f spoolFile, rejectDir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.files {
		if g.seq == f.seq {
			f = g // as it is now: on disk, or in memory
		}
	}
	var err error
	if f.mem != nil {
		if rejectDir != "" {
			werr := os.MkdirAll(rejectDir, 0o750)
			if werr == nil {
				werr = os.WriteFile(filepath.Join(rejectDir, filepath.Base(s.path(f))), f.mem, 0o640)
			}
			if werr != nil {
				s.log.Error("influxdb spool: a refused batch held in memory could not be kept for inspection; dropped", "points", f.lines, "error", werr)
			}
		}
	} else if rejectDir != "" {
		if err = os.MkdirAll(rejectDir, 0o750); err == nil {
			err = os.Rename(s.path(f), filepath.Join(rejectDir, filepath.Base(s.path(f))))
		}
	} else {
		err = os.Remove(s.path(f))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("influx spool: %w", err)
	}
	for i, g := range s.files {
		if g.seq == f.seq {
			s.files = append(s.files[:i], s.files[i+1:]...)
			if g.mem != nil {
				s.memBytes -= int64(len(g.mem))
			} else {
				s.bytes -= g.size
			}
			break
		}
	}
	return nil
}

// replace rewrites a batch with only its undelivered tail.
func (s *spool) replace(f spoolFile, rest []string) (spoolFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.files {
		if g.seq == f.seq {
			f = g
		}
	}
	nf := spoolFile{seq: f.seq, lines: len(rest)}
	if f.mem != nil {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		for _, l := range rest {
			zw.Write([]byte(l + "\n"))
		}
		zw.Close()
		nf.mem = buf.Bytes()
		for i, g := range s.files {
			if g.seq == f.seq {
				s.memBytes += int64(len(nf.mem) - len(g.mem))
				s.files[i] = nf
			}
		}
		return nf, nil
	}
	tmp := s.path(nf) + ".tmp"
	size, err := writeGzipLines(tmp, rest)
	if err != nil {
		os.Remove(tmp)
		return f, fmt.Errorf("influx spool: %w", err)
	}
	if err := os.Rename(tmp, s.path(nf)); err != nil {
		return f, fmt.Errorf("influx spool: %w", err)
	}
	if nf.lines != f.lines {
		os.Remove(s.path(f))
	}
	nf.size = size
	for i, g := range s.files {
		if g.seq == f.seq {
			s.bytes += size - g.size
			s.files[i] = nf
		}
	}
	return nf, nil
}

// stats returns the batches waiting (on disk and in memory), the bytes on
// disk and the points waiting.
func (s *spool) stats() (batches int, bytes int64, lines int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		lines += f.lines
	}
	return len(s.files), s.bytes, lines
}

// memory returns the bytes of the batches held in memory.
func (s *spool) memory() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memBytes
}
