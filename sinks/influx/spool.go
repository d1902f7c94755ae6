package influx

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
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
type spool struct {
	dir      string
	maxBytes int64

	mu    sync.Mutex
	files []spoolFile // oldest first
	bytes int64
	next  uint64
}

type spoolFile struct {
	seq   uint64
	size  int64
	lines int
}

const spoolExt = ".lp.gz"

func openSpool(dir string, maxBytes int64) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, next: 1}
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

// spoolWriter streams one batch into the spool.
type spoolWriter struct {
	s     *spool
	tmp   string
	fh    *os.File
	zw    *gzip.Writer
	bw    *bufio.Writer
	lines int
}

// begin starts a new batch; add lines, then commit (or abort) it.
func (s *spool) begin() (*spoolWriter, error) {
	fh, err := os.CreateTemp(s.dir, "batch-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	zw := gzip.NewWriter(fh)
	return &spoolWriter{s: s, tmp: fh.Name(), fh: fh, zw: zw, bw: bufio.NewWriterSize(zw, 64<<10)}, nil
}

// addLines adds n lines, joined by newlines in body.
func (w *spoolWriter) addLines(body []byte, n int) {
	w.bw.Write(body)
	w.bw.WriteByte('\n')
	w.lines += n
}

func (w *spoolWriter) abort() {
	w.fh.Close()
	os.Remove(w.tmp)
}

// commit makes the batch part of the spool, atomically.
func (w *spoolWriter) commit() (dropped []int, err error) {
	if w.lines == 0 {
		w.abort()
		return nil, nil
	}
	err = errors.Join(w.bw.Flush(), w.zw.Close(), w.fh.Sync())
	info, serr := w.fh.Stat()
	err = errors.Join(err, serr, w.fh.Close())
	if err != nil {
		os.Remove(w.tmp)
		return nil, fmt.Errorf("influx spool: write %s: %w", w.tmp, err)
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	f := spoolFile{seq: s.next, lines: w.lines, size: info.Size()}
	if err := os.Rename(w.tmp, s.path(f)); err != nil {
		os.Remove(w.tmp)
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	s.next++
	s.files = append(s.files, f)
	s.bytes += f.size
	for s.bytes > s.maxBytes && len(s.files) > 1 {
		old := s.files[0]
		if err := os.Remove(s.path(old)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return dropped, fmt.Errorf("influx spool: %w", err)
		}
		s.files = s.files[1:]
		s.bytes -= old.size
		dropped = append(dropped, old.lines)
	}
	return dropped, nil
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
	fh, err := os.Open(s.path(f))
	if err != nil {
		return nil, fmt.Errorf("influx spool: %w", err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
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
	var err error
	if rejectDir != "" {
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
			s.bytes -= g.size
			break
		}
	}
	return nil
}

// replace rewrites a batch with only its undelivered tail.
func (s *spool) replace(f spoolFile, rest []string) (spoolFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	nf := spoolFile{seq: f.seq, lines: len(rest)}
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

func (s *spool) stats() (batches int, bytes int64, lines int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.files {
		lines += f.lines
	}
	return len(s.files), s.bytes, lines
}
