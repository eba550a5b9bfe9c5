package statement

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/paygw/paygw/internal/money"
)

// MappingColumns names, for each Row field, the header of the column that holds it. An empty
// name means the file has no such column.
type MappingColumns struct {
	TradeTime       string `yaml:"trade_time"`        // required
	Type            string `yaml:"type"`              // required unless refunds_negative
	ChannelTradeNo  string `yaml:"channel_trade_no"`  // required
	ChannelRefundNo string `yaml:"channel_refund_no"` // optional
	OutTradeNo      string `yaml:"out_trade_no"`      // optional
	OutRefundNo     string `yaml:"out_refund_no"`     // optional
	Amount          string `yaml:"amount"`            // required
	Fee             string `yaml:"fee"`               // optional: 0 when absent
	Currency        string `yaml:"currency"`          // optional: Options.Currency when absent
	Status          string `yaml:"status"`            // optional: succeeded when absent
}

// Mapping describes a generic statement file (CSV or XLSX): which header names hold which field
// and how values are written. It is embedded in paygw's config file, hence the yaml tags.
// Mapped files carry no totals, so nothing is cross-checked beyond each field.
type Mapping struct {
	// Columns maps Row fields to header names.
	Columns MappingColumns `yaml:"columns"`
	// PaymentValues and RefundValues are the words of the type column (compared case-insensitively
	// after trimming); defaults ["payment"] and ["refund"].
	PaymentValues []string `yaml:"payment_values"`
	RefundValues  []string `yaml:"refund_values"`
	// TimeLayout is a Go time layout of trade_time; default "2006-01-02 15:04:05". Times are read in
	// Options.Location. In XLSX files a date cell stored as a serial number is accepted as well.
	TimeLayout string `yaml:"time_layout"`
	// AmountUnit is "major" (decimal "12.34", the default) or "minor" (integer "1234").
	AmountUnit string `yaml:"amount_unit"`
	// RefundsNegative says refund amounts are printed negative (Alipay, Stripe style). Without a type
	// column the sign then decides the kind.
	RefundsNegative bool `yaml:"refunds_negative"`
	// StatusValues maps status words of the file to normalised statuses (succeeded, failed, closed,
	// revoked, processing); words not listed go through the default normalisation (SUCCESS ->
	// succeeded, REFUND PROCESSING -> succeeded, …).
	StatusValues map[string]string `yaml:"status_values"`
	// Sheet is the XLSX sheet name; default the first sheet.
	Sheet string `yaml:"sheet"`
	// HeaderRow is the 1-based line (CSV) or row (XLSX) of the header; rows above it are skipped. Default 1.
	HeaderRow int `yaml:"header_row"`
	// Encoding of a CSV file: "auto" (default: UTF-8, BOM or not, unless the start is not valid
	// UTF-8, then GBK), "utf-8" or "gbk".
	Encoding string `yaml:"encoding"`
	// Delimiter of a CSV file: one character, default ",".
	Delimiter string `yaml:"delimiter"`
}

// Validate checks a mapping before any file is read.
func (m *Mapping) Validate() error {
	var errs []error
	c := m.Columns
	if c.TradeTime == "" {
		errs = append(errs, errors.New("columns.trade_time is required"))
	}
	if c.ChannelTradeNo == "" {
		errs = append(errs, errors.New("columns.channel_trade_no is required"))
	}
	if c.Amount == "" {
		errs = append(errs, errors.New("columns.amount is required"))
	}
	if c.Type == "" && !m.RefundsNegative {
		errs = append(errs, errors.New("columns.type is required unless refunds_negative is true"))
	}
	switch m.AmountUnit {
	case "", "major", "minor":
	default:
		errs = append(errs, fmt.Errorf("amount_unit %q: want major or minor", m.AmountUnit))
	}
	switch strings.ToLower(m.Encoding) {
	case "", "auto", "utf-8", "utf8", "gbk", "gb18030":
	default:
		errs = append(errs, fmt.Errorf("encoding %q: want auto, utf-8 or gbk", m.Encoding))
	}
	if m.Delimiter != "" && utf8.RuneCountInString(m.Delimiter) != 1 {
		errs = append(errs, fmt.Errorf("delimiter %q: want one character", m.Delimiter))
	}
	if m.HeaderRow < 0 {
		errs = append(errs, fmt.Errorf("header_row %d: want 1 or more", m.HeaderRow))
	}
	for k, v := range m.StatusValues {
		switch v {
		case StatusSucceeded, StatusFailed, StatusClosed, StatusRevoked, StatusProcessing:
		default:
			errs = append(errs, fmt.Errorf("status_values[%q] = %q: want succeeded, failed, closed, revoked or processing", k, v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("statement mapping: %w", err)
	}
	return nil
}

// recordSource yields raw records with their 1-based line or row number.
type recordSource interface {
	record() ([]string, int, error)
	close() error
}

type mappedSource struct {
	name    string
	opts    Options
	m       *Mapping
	rs      recordSource
	xlsx    bool
	idx     map[string]int // field key (yaml name) -> column
	ncols   int
	layout  string
	payVals map[string]bool
	refVals map[string]bool
	statusV map[string]string
}

func openMapped(name string, r io.Reader, opts Options) (src source, err error) {
	m := opts.Mapping
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	s := &mappedSource{name: name, opts: opts, m: m, layout: m.TimeLayout}
	if s.layout == "" {
		s.layout = billTimeLayout
	}
	s.payVals = wordSet(m.PaymentValues, "payment")
	s.refVals = wordSet(m.RefundValues, "refund")
	s.statusV = make(map[string]string, len(m.StatusValues))
	for k, v := range m.StatusValues {
		s.statusV[strings.ToLower(strings.TrimSpace(k))] = v
	}
	if magic, _ := br.Peek(4); string(magic) == "PK\x03\x04" {
		s.xlsx = true
		s.rs, err = openXLSXRecords(name, br, m.Sheet)
	} else {
		s.rs, err = openCSVRecords(name, br, m)
	}
	if err != nil {
		return nil, err
	}
	if err := s.readHeader(); err != nil {
		_ = s.rs.close()
		return nil, err
	}
	return s, nil
}

func wordSet(words []string, def string) map[string]bool {
	if len(words) == 0 {
		words = []string{def}
	}
	set := make(map[string]bool, len(words))
	for _, w := range words {
		set[strings.ToLower(strings.TrimSpace(w))] = true
	}
	return set
}

func (s *mappedSource) readHeader() error {
	want := s.m.HeaderRow
	if want == 0 {
		want = 1
	}
	for {
		rec, line, err := s.rs.record()
		if err == io.EOF {
			return &Error{File: s.name, Line: want, Msg: "no header row (file shorter than header_row)"}
		}
		if err != nil {
			return err
		}
		if line < want {
			continue
		}
		found := make(map[string]int, len(rec))
		for i, h := range rec {
			h = strings.TrimSpace(stripBOM(h))
			if _, dup := found[h]; !dup {
				found[h] = i
			}
		}
		s.ncols = len(rec)
		s.idx = make(map[string]int)
		c := s.m.Columns
		var missing []string
		for _, f := range []struct{ key, header string }{
			{"trade_time", c.TradeTime}, {"type", c.Type}, {"channel_trade_no", c.ChannelTradeNo},
			{"channel_refund_no", c.ChannelRefundNo}, {"out_trade_no", c.OutTradeNo}, {"out_refund_no", c.OutRefundNo},
			{"amount", c.Amount}, {"fee", c.Fee}, {"currency", c.Currency}, {"status", c.Status},
		} {
			if f.header == "" {
				continue
			}
			i, ok := found[strings.TrimSpace(f.header)]
			if !ok {
				missing = append(missing, fmt.Sprintf("%s (%q)", f.key, f.header))
				continue
			}
			s.idx[f.key] = i
		}
		if len(missing) > 0 {
			return &Error{File: s.name, Line: line, Msg: fmt.Sprintf("header lacks mapped columns %s; header is %s", strings.Join(missing, ", "), short(fmt.Sprintf("%q", rec)))}
		}
		return nil
	}
}

func (s *mappedSource) next() (Row, error) {
	for {
		rec, line, err := s.rs.record()
		if err == io.EOF {
			_ = s.rs.close()
			return Row{}, io.EOF
		}
		if err != nil {
			return Row{}, err
		}
		blank := true
		for _, v := range rec {
			if strings.TrimSpace(v) != "" {
				blank = false
				break
			}
		}
		if blank {
			continue
		}
		return s.parse(rec, line)
	}
}

func (s *mappedSource) parse(rec []string, ln int) (Row, error) {
	name, c := s.name, s.m.Columns
	get := func(key string) string {
		i, ok := s.idx[key]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.Trim(rec[i], " \t")
	}
	row := Row{Line: ln}
	var err error
	if row.TradeTime, err = s.parseTime(ln, c.TradeTime, get("trade_time")); err != nil {
		return Row{}, err
	}
	if row.Currency, err = parseCurrency(name, ln, c.Currency, get("currency"), s.opts.Currency); err != nil {
		return Row{}, err
	}
	amount, err := s.amount(ln, c.Amount, get("amount"), row.Currency)
	if err != nil {
		return Row{}, err
	}
	if c.Type != "" {
		t := strings.ToLower(get("type"))
		switch {
		case s.payVals[t]:
			row.Kind = KindPayment
		case s.refVals[t]:
			row.Kind = KindRefund
		default:
			return Row{}, fieldErr(name, ln, c.Type, "%q is neither a payment nor a refund value of the mapping", short(get("type")))
		}
	} else if amount < 0 {
		row.Kind = KindRefund
	} else {
		row.Kind = KindPayment
	}
	switch {
	case s.m.RefundsNegative && row.Kind == KindRefund:
		if amount > 0 {
			return Row{}, fieldErr(name, ln, c.Amount, "positive amount on a refund row (mapping says refunds are negative)")
		}
		amount = -amount
	case amount < 0:
		return Row{}, fieldErr(name, ln, c.Amount, "negative amount on a %s row", row.Kind)
	}
	row.Amount = amount
	if c.Fee != "" {
		fee, err := s.amount(ln, c.Fee, get("fee"), row.Currency)
		if err != nil {
			return Row{}, err
		}
		row.Fee = absInt64(fee) // channels disagree on the fee's sign; the kind says charged or returned
	}
	ids := []struct {
		key, header string
		dst         *string
		required    bool
	}{
		{"channel_trade_no", c.ChannelTradeNo, &row.ChannelTradeNo, true},
		{"out_trade_no", c.OutTradeNo, &row.OutTradeNo, false},
		{"channel_refund_no", c.ChannelRefundNo, &row.ChannelRefundNo, false},
		{"out_refund_no", c.OutRefundNo, &row.OutRefundNo, false},
	}
	for _, id := range ids {
		v := get(id.key)
		if err := checkID(name, ln, id.header, v, id.required); err != nil {
			return Row{}, err
		}
		if row.Kind == KindPayment && (id.key == "channel_refund_no" || id.key == "out_refund_no") {
			continue
		}
		*id.dst = v
	}
	row.Status = StatusSucceeded
	if c.Status != "" {
		st := get("status")
		if st == "" {
			return Row{}, fieldErr(name, ln, c.Status, "empty")
		}
		if len(st) > maxQuote {
			return Row{}, fieldErr(name, ln, c.Status, "status %q too long", short(st))
		}
		if v, ok := s.statusV[strings.ToLower(st)]; ok {
			row.Status = v
		} else {
			row.Status = normalizeStatus(row.Kind, st)
		}
	}
	return row, nil
}

func (s *mappedSource) amount(ln int, field, v string, cur money.Currency) (int64, error) {
	if v == "" {
		return 0, fieldErr(s.name, ln, field, "empty amount")
	}
	if s.m.AmountUnit == "minor" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || strings.HasPrefix(v, "+") || n == minInt64 {
			return 0, fieldErr(s.name, ln, field, "bad amount %q: want an integer number of minor units", short(v))
		}
		return n, nil
	}
	n, err := parseAmount(s.name, ln, field, v, cur, false)
	if err == nil && n == minInt64 {
		err = fieldErr(s.name, ln, field, "amount %q out of range", short(v))
	}
	return n, err
}

func (s *mappedSource) parseTime(ln int, field, v string) (time.Time, error) {
	t, err := parseTimeLayout(s.name, ln, field, v, s.layout, s.opts.Location)
	if err == nil || !s.xlsx {
		return t, err
	}
	if t, ok := excelSerialTime(v, s.opts.Location); ok {
		return t, nil
	}
	return time.Time{}, err
}

// excelSerialTime reads an Excel date serial ("45730.5") as a wall time in loc, to the second.
func excelSerialTime(v string, loc *time.Location) (time.Time, bool) {
	d, err := money.ParseDecimal(v)
	if err != nil || d.Sign() <= 0 || d.GreaterThan(decimal.NewFromInt(2958466)) { // year 9999
		return time.Time{}, false
	}
	secs := d.Mul(decimal.NewFromInt(86400)).Round(0).IntPart()
	base := time.Date(1899, 12, 30, 0, 0, 0, 0, loc)
	wall := base.Add(time.Duration(secs) * time.Second)
	// Re-read the wall clock in loc so that zone offsets of loc apply to the date itself.
	y, mo, dd := wall.Date()
	h, mi, se := wall.Clock()
	return time.Date(y, mo, dd, h, mi, se, 0, loc).UTC(), true
}

func (s *mappedSource) verify() error { return nil }

// csvRecords reads a delimited text file.
type csvRecords struct {
	name string
	cr   *csv.Reader
	lim  *recordLimit
	line int // line of the last record
}

func openCSVRecords(name string, br *bufio.Reader, m *Mapping) (recordSource, error) {
	var r io.Reader = br
	head, err := br.Peek(64 << 10)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	enc := strings.ToLower(m.Encoding)
	switch {
	case bytes.HasPrefix(head, []byte("\uFEFF")):
		_, _ = br.Discard(3)
	case enc == "gbk" || enc == "gb18030":
		r = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
	case enc == "" || enc == "auto":
		if !validUTF8Prefix(head) {
			r = transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder())
		}
	}
	lim := &recordLimit{name: name, r: r}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = false
	cr.ReuseRecord = true
	if m.Delimiter != "" {
		cr.Comma, _ = utf8.DecodeRuneInString(m.Delimiter)
	}
	return &csvRecords{name: name, cr: cr, lim: lim}, nil
}

// validUTF8Prefix reports whether b is valid UTF-8, allowing a rune cut at the end of the window.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

func (c *csvRecords) record() ([]string, int, error) {
	rec, err := c.cr.Read()
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		var se *Error
		if errors.As(err, &se) && se.Line == 0 {
			se.Line = c.line + 1 // the record after the last one read
		}
		return nil, 0, csvErr(c.name, err)
	}
	c.lim.mark = c.cr.InputOffset()
	c.line, _ = c.cr.FieldPos(0)
	if err := checkCells(c.name, c.line, rec); err != nil {
		return nil, 0, err
	}
	return rec, c.line, nil
}

// checkCells bounds the cells of one mapped record and their size.
func checkCells(name string, line int, rec []string) error {
	if len(rec) > maxCells {
		return &Error{File: name, Line: line, Msg: fmt.Sprintf("%d cells, more than %d", len(rec), maxCells)}
	}
	for i, v := range rec {
		if len(v) > maxField {
			return &Error{File: name, Line: line, Msg: fmt.Sprintf("cell %d is %d bytes, more than %d: %q", i+1, len(v), maxField, short(v))}
		}
	}
	return nil
}

func (c *csvRecords) close() error { return nil }

// xlsxRecords iterates a sheet with excelize's streaming row iterator.
type xlsxRecords struct {
	name string
	f    *excelize.File
	rows *excelize.Rows
	n    int
}

func openXLSXRecords(name string, r io.Reader, sheet string) (rs recordSource, err error) {
	defer func() {
		// excelize may panic on malformed archives; a bad file is bad input, not a crash.
		if p := recover(); p != nil {
			rs, err = nil, &Error{File: name, Msg: fmt.Sprintf("unreadable XLSX: %v", p)}
		}
	}()
	f, err := excelize.OpenReader(r, excelize.Options{UnzipSizeLimit: maxXLSXUnzip, UnzipXMLSizeLimit: maxXLSXXML})
	if err != nil {
		msg := "unreadable XLSX"
		if errors.Is(err, excelize.ErrOptionsUnzipSizeLimit) || strings.Contains(err.Error(), "unzip size") {
			msg = fmt.Sprintf("XLSX expands to more than %d bytes (decompression bomb?)", maxXLSXUnzip)
		}
		return nil, &Error{File: name, Msg: msg, Err: err}
	}
	if sheet == "" {
		sheet = f.GetSheetName(0)
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		_ = f.Close()
		return nil, &Error{File: name, Msg: fmt.Sprintf("sheet %q (sheets: %s)", short(sheet), short(fmt.Sprintf("%q", f.GetSheetList()))), Err: err}
	}
	return &xlsxRecords{name: name, f: f, rows: rows}, nil
}

func (x *xlsxRecords) record() (rec []string, line int, err error) {
	defer func() {
		if p := recover(); p != nil {
			rec, err = nil, &Error{File: x.name, Line: x.n, Msg: fmt.Sprintf("unreadable XLSX row: %v", p)}
		}
	}()
	if !x.rows.Next() {
		if err := x.rows.Error(); err != nil {
			return nil, 0, &Error{File: x.name, Line: x.n + 1, Msg: "read XLSX row", Err: err}
		}
		return nil, 0, io.EOF
	}
	x.n++
	if x.n > maxSheetRows {
		return nil, 0, &Error{File: x.name, Line: x.n, Msg: fmt.Sprintf("more than %d rows", maxSheetRows)}
	}
	cols, err := x.rows.Columns()
	if err != nil {
		return nil, 0, &Error{File: x.name, Line: x.n, Msg: "read XLSX row", Err: err}
	}
	if err := checkCells(x.name, x.n, cols); err != nil {
		return nil, 0, err
	}
	return cols, x.n, nil
}

func (x *xlsxRecords) close() error {
	err := x.rows.Close()
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	return err
}
