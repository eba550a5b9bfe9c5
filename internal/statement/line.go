package statement

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// maxLine bounds one statement line; a longer "line" is not a bill (or is a corrupt one).
const maxLine = 1 << 20

// lineReader yields lines without their CR/LF, counting them from 1.
type lineReader struct {
	name string
	br   *bufio.Reader
	line int
	buf  []byte
	// lastHadEOL reports whether the last line returned ended with a newline (false for a final
	// line cut short, which hints at a truncated download).
	lastHadEOL bool
}

func newLineReader(name string, r io.Reader) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &lineReader{name: name, br: br}
}

// next returns the next line (valid until the following call) or io.EOF.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		chunk, err := l.br.ReadSlice('\n')
		l.buf = append(l.buf, chunk...)
		if len(l.buf) > maxLine {
			return nil, &Error{File: l.name, Line: l.line + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			if len(l.buf) == 0 {
				return nil, io.EOF
			}
			l.line++
			l.lastHadEOL = false
			return bytes.TrimSuffix(l.buf, []byte("\r")), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", l.name, err)
		}
		l.line++
		l.lastHadEOL = true
		b := l.buf[:len(l.buf)-1]
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
}
