package statement

import (
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/money"
)

// Bounds on what a statement file may make paygw do. A file beyond any of them is refused with
// an *Error (exit 2 from `paygw reconcile`) before it can use much memory, disk or CPU; docs/statements.md
// lists them.
const (
	// maxID bounds every id cell (channel trade/refund numbers, out_trade_no, out_refund_no):
	// channels use at most 64 characters, paygw's ids are 30.
	maxID = 128
	// maxRecord bounds one CSV record of a mapped file (its quoted fields may span lines), like
	// maxLine bounds a line of the other formats.
	maxRecord = maxLine
	// maxField bounds one cell of a mapped file.
	maxField = 64 << 10
	// maxCells bounds the cells of one row of a mapped file.
	maxCells = 1024
	// maxSheetRows bounds the rows of a mapped XLSX sheet (Excel's own maximum).
	maxSheetRows = 1 << 20
	// maxXLSXUnzip bounds the expanded size of all parts of a mapped XLSX file (excelize's
	// UnzipSizeLimit; sizes are checked before anything is expanded), maxXLSXXML the part kept in
	// memory (larger sheets are expanded to a temporary file, within maxXLSXUnzip).
	maxXLSXUnzip = 256 << 20
	maxXLSXXML   = 16 << 20
	// maxExpanded bounds the expanded size of a gzip or zip statement, and maxExpandRatio how many
	// times its compressed size it may expand to once past expandFloor: a real bill compresses 5–15
	// times; 2 MB of gzip expanding to 2 GiB of blank lines does not.
	maxExpanded    = 1 << 30
	maxExpandRatio = 100
	expandFloor    = 16 << 20
	// maxZipEntries bounds the entries of an Alipay zip (real ones hold two).
	maxZipEntries = 64
	// maxErrorText bounds an *Error's text; maxQuote a value quoted in it.
	maxErrorText = 1024
	maxQuote     = 64
)

// short returns s, or its first maxQuote bytes (cut at a rune boundary) and how long it was, for
// quoting outside input in error messages.
func short(s string) string {
	if len(s) <= maxQuote {
		return s
	}
	cut := maxQuote
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cut], len(s))
}

// checkAmountLimit refuses a row whose amount or fee exceeds money.MaxAmount.
func checkAmountLimit(file string, r Row) error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"amount", r.Amount}, {"fee", r.Fee}} {
		if f.v > money.MaxAmount || f.v < -money.MaxAmount {
			return fieldErr(file, r.Line, f.name, "%s exceeds the maximum amount of one row (%s)",
				money.Format(f.v, currencyOf(r)), money.Format(money.MaxAmount, currencyOf(r)))
		}
	}
	return nil
}

// expandLimit reads a decompressing reader and fails once it has produced more than maxExpanded
// bytes, or more than maxExpandRatio times the compressed bytes read so far (past expandFloor).
type expandLimit struct {
	name       string
	r          io.Reader
	compressed func() int64
	n          int64
}

func (e *expandLimit) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > maxExpanded {
		return n, &Error{File: e.name, Msg: fmt.Sprintf("expands to more than %d bytes: not a statement (decompression bomb?)", int64(maxExpanded))}
	}
	if c := e.compressed(); e.n > expandFloor && e.n > maxExpandRatio*c {
		return n, &Error{File: e.name, Msg: fmt.Sprintf("%d compressed bytes expand to more than %d: not a statement (decompression bomb?)", c, e.n)}
	}
	return n, err
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// recordLimit fails once more than maxRecord bytes were read past the start of the current
// record (mark), so that encoding/csv never buffers a huge line or quoted field.
type recordLimit struct {
	name string
	r    io.Reader
	n    int64 // bytes read
	mark int64 // bytes consumed up to the start of the current record
}

// slack covers what encoding/csv's bufio.Reader reads ahead of the record it returns.
const slack = 64 << 10

func (l *recordLimit) Read(p []byte) (int, error) {
	if len(p) > slack {
		p = p[:slack]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n-l.mark > maxRecord+2*slack {
		return n, &Error{File: l.name, Msg: fmt.Sprintf("a record longer than %d bytes (a line without end, or an unterminated quote)", maxRecord)}
	}
	return n, err
}
