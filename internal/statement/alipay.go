package statement

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"

	"github.com/paygw/paygw/internal/money"
)

// Alipay column names (full-width brackets, as in real files).
const (
	apTradeNo     = "支付宝交易号"
	apOutTradeNo  = "商户订单号"
	apType        = "业务类型"
	apCreated     = "创建时间"
	apFinished    = "完成时间"
	apOrderAmount = "订单金额（元）"
	apReceived    = "商家实收（元）"
	apDiscount    = "商家优惠（元）"
	apRefundNo    = "退款批次号/请求号"
	apFee         = "服务费（元）"

	apDetailTitle  = "#支付宝业务明细查询"
	apSummaryTitle = "#支付宝业务汇总查询"
	apDetailEnd    = "业务明细列表结束"
)

// alipayHeader is the 25-column detail header written by WriteAlipayZip.
var alipayHeader = strings.Split("支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注", ",")

var alipayRequired = []string{apTradeNo, apOutTradeNo, apType, apFinished, apOrderAmount, apReceived, apRefundNo, apFee}

var (
	apTradeTotalRe  = regexp.MustCompile(`^#交易合计[：:]\s*(\d+)笔[，,]\s*商家实收共\s*(\S+?)元(?:[，,]\s*商家优惠共\s*(\S+?)元)?\s*$`)
	apRefundTotalRe = regexp.MustCompile(`^#退款合计[：:]\s*(\d+)笔[，,]\s*商家实收退款共\s*(\S+?)元(?:[，,]\s*商家优惠退款共\s*(\S+?)元)?\s*$`)
)

// normalizeAlipayHeader trims a header cell and turns half-width brackets into the full-width ones
// of real files, so hand-made files with "订单金额(元)" are accepted.
func normalizeAlipayHeader(s string) string {
	s = strings.Trim(s, " \t")
	return strings.NewReplacer("(", "（", ")", "）").Replace(s)
}

// alipayTotals is one #交易合计 / #退款合计 line.
type alipayTotals struct {
	line               int
	count              int
	received, discount string
	hasDiscount        bool
}

type alipaySource struct {
	name     string
	opts     Options
	lr       *lineReader
	cols     map[string]int
	ncols    int
	inFooter bool
	endSeen  bool
	trade    *alipayTotals
	refund   *alipayTotals
	sums     alipaySums
}

// alipaySums are the raw sums by 业务类型, signed, minor units, checked against the # totals lines.
type alipaySums struct {
	tradeCount, refundCount int
	tradeRecv, tradeDisc    int64
	refundRecv, refundDisc  int64
}

// maxAlipayZip bounds the downloaded zip kept in memory.
const maxAlipayZip = 512 << 20

func openAlipay(name string, r io.Reader, opts Options) (source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var body io.Reader = br
	if magic, _ := br.Peek(4); string(magic) == "PK\x03\x04" {
		entry, err := alipayDetailEntry(name, br)
		if err != nil {
			return nil, err
		}
		body = entry
	}
	text, err := alipayDecode(body)
	if err != nil {
		return nil, &Error{File: name, Msg: "read", Err: err}
	}
	s := &alipaySource{name: name, opts: opts, lr: newLineReader(name, text)}
	if err := s.readHeader(); err != nil {
		return nil, err
	}
	return s, nil
}

// alipayDetailEntry reads the zip into memory and returns the entry whose first line is
// #支付宝业务明细查询. Entry names are GBK and are not trusted.
func alipayDetailEntry(name string, r io.Reader) (io.Reader, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxAlipayZip+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxAlipayZip {
		return nil, &Error{File: name, Msg: fmt.Sprintf("zip larger than %d bytes", maxAlipayZip)}
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, &Error{File: name, Msg: "bad zip", Err: err}
	}
	if len(zr.File) > maxZipEntries {
		return nil, &Error{File: name, Msg: fmt.Sprintf("zip holds %d entries, more than %d: not an Alipay bill", len(zr.File), maxZipEntries)}
	}
	var names []string
	for _, f := range zr.File {
		entryName := f.Name
		if f.NonUTF8 || !utf8.ValidString(entryName) {
			if dec, err := simplifiedchinese.GB18030.NewDecoder().String(entryName); err == nil {
				entryName = dec
			}
		}
		names = append(names, short(entryName))
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, &Error{File: name, Msg: fmt.Sprintf("zip entry %q", short(entryName)), Err: err}
		}
		head := make([]byte, 64)
		n, _ := io.ReadFull(rc, head)
		rc.Close()
		if !isAlipayDetail(head[:n]) {
			continue
		}
		rc, err = f.Open()
		if err != nil {
			return nil, &Error{File: name, Msg: fmt.Sprintf("zip entry %q", short(entryName)), Err: err}
		}
		// archive/zip stops at the entry's declared sizes; the ratio bounds what they may declare.
		compressed := int64(min(f.CompressedSize64, 1<<62))
		return &expandLimit{name: name, r: rc, compressed: func() int64 { return compressed }}, nil // the zip.Reader reads from memory; nothing to close
	}
	return nil, &Error{File: name, Msg: fmt.Sprintf("zip holds no Alipay detail file (first line %s); entries: %q", apDetailTitle, names)}
}

// isAlipayDetail reports whether head (the start of a file) is an Alipay detail bill, GBK or UTF-8.
func isAlipayDetail(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\uFEFF"))
	if bytes.HasPrefix(head, []byte(apDetailTitle)) {
		return true
	}
	gbk, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(apDetailTitle))
	return err == nil && bytes.HasPrefix(head, gbk)
}

// alipayDecode returns r decoded to UTF-8: a BOM or a UTF-8 first line means UTF-8 (hand-made
// files), anything else is read as GBK (GB18030, its superset), as Alipay writes it.
func alipayDecode(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4096)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, err
	}
	if bytes.HasPrefix(head, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
		return br, nil
	}
	first := head
	if i := bytes.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	if utf8.Valid(first) && bytes.HasPrefix(first, []byte("#支付宝")) {
		return br, nil
	}
	return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), nil
}

// readHeader skips the # preamble and maps the column header.
func (s *alipaySource) readHeader() error {
	for {
		b, err := s.lr.next()
		if err == io.EOF {
			return &Error{File: s.name, Line: s.lr.line, Msg: "no column header: not an Alipay detail bill"}
		}
		if err != nil {
			return err
		}
		line := string(b)
		if s.lr.line == 1 && strings.HasPrefix(line, apSummaryTitle) {
			return &Error{File: s.name, Line: 1, Msg: "this is the Alipay summary (汇总) file; give the detail (业务明细) file or the whole zip"}
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cells := strings.Split(line, ",")
		s.cols = make(map[string]int, len(cells))
		for i, c := range cells {
			c = normalizeAlipayHeader(c)
			if _, dup := s.cols[c]; dup {
				return &Error{File: s.name, Line: s.lr.line, Field: c, Msg: "duplicate header column"}
			}
			s.cols[c] = i
		}
		s.ncols = len(cells)
		for _, req := range alipayRequired {
			if _, ok := s.cols[req]; !ok {
				return &Error{File: s.name, Line: s.lr.line, Field: req, Msg: fmt.Sprintf("missing column in header (not an Alipay detail bill?): %.200s", line)}
			}
		}
		return nil
	}
}

func (s *alipaySource) next() (Row, error) {
	for {
		b, err := s.lr.next()
		if err == io.EOF {
			return Row{}, io.EOF
		}
		if err != nil {
			return Row{}, err
		}
		ln := s.lr.line
		line := string(b)
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			s.inFooter = true
			if err := s.footerLine(line, ln); err != nil {
				return Row{}, err
			}
			continue
		}
		if s.inFooter {
			return Row{}, &Error{File: s.name, Line: ln, Msg: "detail row after the end of the detail list"}
		}
		if !utf8.ValidString(line) {
			return Row{}, &Error{File: s.name, Line: ln, Msg: "line is not valid text"}
		}
		cells := strings.Split(line, ",")
		if len(cells) > s.ncols {
			return s.recoverRow(cells, ln)
		}
		if len(cells) != s.ncols {
			return Row{}, &Error{File: s.name, Line: ln, Msg: fmt.Sprintf("row has %d fields, header has %d", len(cells), s.ncols)}
		}
		trimCells(cells)
		return s.parseRow(cells, ln)
	}
}

func trimCells(cells []string) {
	for i := range cells {
		cells[i] = strings.Trim(cells[i], " \t")
	}
}

// alipayFreeText are the columns of free text a merchant or payer writes, where Alipay leaves
// commas unquoted ("年度会员,自动续费").
var alipayFreeText = []string{"商品名称", "备注", "门店名称", "券名称", "操作员"}

// recoverRow reads a row with more cells than the header, the way splitWeChat keeps commas inside
// WeChat Pay's 商品名称: it tries each free-text column in turn as the one holding the extra
// commas, and keeps the reading if exactly one distinct row parses (every typed column — ids,
// type, times, amounts — then lines up with the header). Anything else is refused: the comma is
// somewhere a row cannot be read back from.
func (s *alipaySource) recoverRow(cells []string, ln int) (Row, error) {
	extra := len(cells) - s.ncols
	refuse := &Error{File: s.name, Line: ln, Msg: fmt.Sprintf("row has %d fields, header has %d, and no single free-text column (%s) can hold the extra commas",
		len(cells), s.ncols, strings.Join(alipayFreeText, ", "))}
	if extra > maxAlipayExtraCommas {
		return Row{}, refuse
	}
	saved := s.sums
	var found Row
	var foundSums alipaySums
	n := 0
	for _, col := range alipayFreeText {
		i, ok := s.cols[col]
		if !ok {
			continue
		}
		merged := make([]string, 0, s.ncols)
		merged = append(merged, cells[:i]...)
		merged = append(merged, strings.Join(cells[i:i+extra+1], ","))
		merged = append(merged, cells[i+extra+1:]...)
		trimCells(merged)
		if !s.shapeOK(merged, ln) {
			continue
		}
		s.sums = saved
		row, err := s.parseRow(merged, ln)
		if err != nil {
			continue
		}
		if n > 0 && row != found {
			s.sums = saved
			refuse.Msg = fmt.Sprintf("row has %d fields, header has %d: the extra commas fit more than one free-text column, with different results", len(cells), s.ncols)
			return Row{}, refuse
		}
		found, foundSums, n = row, s.sums, n+1
	}
	if n == 0 {
		s.sums = saved
		return Row{}, refuse
	}
	s.sums = foundSums
	return found, nil
}

// shapeOK reports whether every typed column of the header holds a value of its type: times in
// 创建时间 and 完成时间, amounts (or nothing) in every （元） column. It tells a recovered row whose
// cells line up with the header from one shifted by a wrong guess.
func (s *alipaySource) shapeOK(cells []string, ln int) bool {
	for name, i := range s.cols {
		v := cells[i]
		switch {
		case v == "":
		case name == apCreated || name == apFinished:
			if _, err := parseBillTime(s.name, ln, name, v, s.opts.Location); err != nil {
				return false
			}
		case strings.HasSuffix(name, "（元）"):
			if _, err := parseAmount(s.name, ln, name, v, s.opts.Currency, true); err != nil {
				return false
			}
		}
	}
	return true
}

// maxAlipayExtraCommas bounds the commas one free-text cell may add (each try re-parses the row).
const maxAlipayExtraCommas = 64

func (s *alipaySource) footerLine(line string, ln int) error {
	switch {
	case strings.Contains(line, apDetailEnd):
		s.endSeen = true
	case strings.HasPrefix(line, "#交易合计"):
		t, err := parseAlipayTotals(s.name, ln, line, apTradeTotalRe, "#交易合计")
		if err != nil {
			return err
		}
		s.trade = t
	case strings.HasPrefix(line, "#退款合计"):
		t, err := parseAlipayTotals(s.name, ln, line, apRefundTotalRe, "#退款合计")
		if err != nil {
			return err
		}
		s.refund = t
	}
	return nil
}

func parseAlipayTotals(file string, ln int, line string, re *regexp.Regexp, field string) (*alipayTotals, error) {
	m := re.FindStringSubmatch(line)
	if m == nil {
		return nil, &Error{File: file, Line: ln, Field: field, Msg: fmt.Sprintf("cannot read totals line %q", short(line))}
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return nil, &Error{File: file, Line: ln, Field: field, Msg: "bad count", Err: err}
	}
	return &alipayTotals{line: ln, count: n, received: m[2], discount: m[3], hasDiscount: m[3] != ""}, nil
}

func (s *alipaySource) parseRow(cells []string, ln int) (Row, error) {
	name := s.name
	get := func(c string) string {
		if i, ok := s.cols[c]; ok {
			return cells[i]
		}
		return ""
	}
	row := Row{Line: ln, Currency: s.opts.Currency, Status: StatusSucceeded}
	switch t := get(apType); t {
	case "交易":
		row.Kind = KindPayment
	case "退款":
		row.Kind = KindRefund
	default:
		return Row{}, fieldErr(name, ln, apType, "unsupported business type %q (want 交易 or 退款)", short(t))
	}
	var err error
	if row.TradeTime, err = parseBillTime(name, ln, apFinished, get(apFinished), s.opts.Location); err != nil {
		return Row{}, err
	}
	row.ChannelTradeNo, row.OutTradeNo = get(apTradeNo), get(apOutTradeNo)
	if err := checkID(name, ln, apTradeNo, row.ChannelTradeNo, true); err != nil {
		return Row{}, err
	}
	if err := checkID(name, ln, apOutTradeNo, row.OutTradeNo, false); err != nil {
		return Row{}, err
	}
	amt := func(c string, lenient bool) (int64, error) {
		v := get(c)
		if _, ok := s.cols[c]; !ok {
			return 0, nil
		}
		if v == "" && c == apDiscount {
			return 0, nil
		}
		n, err := parseAmount(name, ln, c, v, row.Currency, lenient)
		if err == nil && n == minInt64 {
			err = fieldErr(name, ln, c, "out of range")
		}
		return n, err
	}
	order, err := amt(apOrderAmount, false)
	if err != nil {
		return Row{}, err
	}
	recv, err := amt(apReceived, false)
	if err != nil {
		return Row{}, err
	}
	disc, err := amt(apDiscount, false)
	if err != nil {
		return Row{}, err
	}
	fee, err := amt(apFee, true)
	if err != nil {
		return Row{}, err
	}
	if row.Kind == KindPayment {
		if order < 0 {
			return Row{}, fieldErr(name, ln, apOrderAmount, "negative amount on a 交易 row")
		}
		s.sums.tradeCount++
		s.sums.tradeRecv += recv
		s.sums.tradeDisc += disc
		row.Amount, row.Fee = order, -fee
		if get(apRefundNo) != "" {
			return Row{}, fieldErr(name, ln, apRefundNo, "set on a 交易 row")
		}
		return row, nil
	}
	if order > 0 {
		return Row{}, fieldErr(name, ln, apOrderAmount, "positive amount on a 退款 row (refunds are negative)")
	}
	s.sums.refundCount++
	s.sums.refundRecv += recv
	s.sums.refundDisc += disc
	row.Amount, row.Fee = -order, fee
	row.OutRefundNo = get(apRefundNo)
	if err := checkID(name, ln, apRefundNo, row.OutRefundNo, false); err != nil {
		return Row{}, err
	}
	return row, nil
}

const minInt64 = -1 << 63

func (s *alipaySource) verify() error {
	if !s.endSeen && s.trade == nil && s.refund == nil {
		return &Error{File: s.name, Line: s.lr.line, Msg: "footer (#…业务明细列表结束, #交易合计, #退款合计) missing: truncated file?", Err: ErrTotals}
	}
	if s.trade == nil {
		return &Error{File: s.name, Field: "#交易合计", Msg: "totals line missing: truncated or edited file?", Err: ErrTotals}
	}
	if s.refund == nil {
		return &Error{File: s.name, Field: "#退款合计", Msg: "totals line missing: truncated or edited file?", Err: ErrTotals}
	}
	cur := s.opts.Currency
	check := func(t *alipayTotals, field string, count int, recv, disc int64) error {
		if t.count != count {
			return &Error{File: s.name, Line: t.line, Field: field, Err: ErrTotals,
				Msg: fmt.Sprintf("totals say %d rows, file has %d", t.count, count)}
		}
		want, err := parseAmount(s.name, t.line, field, t.received, cur, false)
		if err != nil {
			return err
		}
		if want != recv {
			return &Error{File: s.name, Line: t.line, Field: field, Err: ErrTotals,
				Msg: fmt.Sprintf("totals say 商家实收 %s, rows add up to %s", t.received, money.Format(recv, cur))}
		}
		if _, has := s.cols[apDiscount]; t.hasDiscount && has {
			want, err := parseAmount(s.name, t.line, field, t.discount, cur, false)
			if err != nil {
				return err
			}
			if want != disc {
				return &Error{File: s.name, Line: t.line, Field: field, Err: ErrTotals,
					Msg: fmt.Sprintf("totals say 商家优惠 %s, rows add up to %s", t.discount, money.Format(disc, cur))}
			}
		}
		return nil
	}
	if err := check(s.trade, "#交易合计", s.sums.tradeCount, s.sums.tradeRecv, s.sums.tradeDisc); err != nil {
		return err
	}
	return check(s.refund, "#退款合计", s.sums.refundCount, s.sums.refundRecv, s.sums.refundDisc)
}

// WriteAlipayZip writes rows as a downloaded Alipay trade bill: a zip holding
// <pid>_<yyyyMMdd>_业务明细.csv and <pid>_<yyyyMMdd>_业务明细(汇总).csv, entry names and content in
// GBK, CRLF lines, TABs after id cells, refunds as negative rows and correct # totals. date is the
// bill date (its year, month and day are used as they are). Rows must be CNY; ChannelRefundNo is
// not written (Alipay has no channel refund number), 商家实收 equals 订单金额 (no discounts).
func WriteAlipayZip(w io.Writer, rows []Row, date time.Time, pid string) error {
	if pid == "" || strings.ContainsAny(pid, "/\\\r\n") {
		return fmt.Errorf("write alipay bill: bad pid %q", pid)
	}
	detail, summary, err := alipayFiles(rows, date, pid)
	if err != nil {
		return err
	}
	day := date.Format("20060102")
	zw := zip.NewWriter(w)
	for _, f := range []struct {
		name string
		body string
	}{
		{pid + "_" + day + "_业务明细.csv", detail},
		{pid + "_" + day + "_业务明细(汇总).csv", summary},
	} {
		gbkName, err := simplifiedchinese.GB18030.NewEncoder().String(f.name)
		if err != nil {
			return fmt.Errorf("write alipay bill: encode name: %w", err)
		}
		gbkBody, err := simplifiedchinese.GB18030.NewEncoder().String(f.body)
		if err != nil {
			return fmt.Errorf("write alipay bill: encode %s: %w", f.name, err)
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: gbkName, NonUTF8: true, Method: zip.Deflate,
			Modified: time.Date(date.Year(), date.Month(), date.Day()+1, 6, 0, 0, 0, time.UTC)})
		if err != nil {
			return fmt.Errorf("write alipay bill: %w", err)
		}
		if _, err := io.WriteString(fw, gbkBody); err != nil {
			return fmt.Errorf("write alipay bill: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write alipay bill: %w", err)
	}
	return nil
}

// WriteAlipayDetail writes only the detail CSV (GBK, CRLF) of an Alipay bill, as found inside the zip.
func WriteAlipayDetail(w io.Writer, rows []Row, date time.Time, pid string) error {
	detail, _, err := alipayFiles(rows, date, pid)
	if err != nil {
		return err
	}
	gbk, err := simplifiedchinese.GB18030.NewEncoder().String(detail)
	if err != nil {
		return fmt.Errorf("write alipay bill: %w", err)
	}
	_, err = io.WriteString(w, gbk)
	return err
}

// alipayFiles builds the detail and summary file texts (UTF-8; the caller encodes them).
func alipayFiles(rows []Row, date time.Time, pid string) (detail, summary string, err error) {
	const cur = money.Currency("CNY")
	start := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 0, 1)
	cn := func(t time.Time) string { return t.Format("2006年01月02日 15:04:05") }
	preamble := func(title, list string) string {
		return title + "\r\n#账号：[" + pid + "0156]\r\n#起始日期：[" + cn(start) + "]   终止日期：[" + cn(end) + "]\r\n" +
			"#-----------------------------------------" + list + "----------------------------------------\r\n"
	}
	var b strings.Builder
	b.WriteString(preamble(apDetailTitle, "业务明细列表"))
	b.WriteString(strings.Join(alipayHeader, ","))
	b.WriteString("\r\n")
	var tradeN, refundN int
	var tradeRecv, refundRecv, feeSum, orderSum int64
	for i, r := range rows {
		if err := checkWritable(r); err != nil {
			return "", "", fmt.Errorf("write alipay bill: row %d: %w", i+1, err)
		}
		if r.Status != StatusSucceeded {
			return "", "", fmt.Errorf("write alipay bill: row %d: status %q (Alipay bills list completed trades only)", i+1, r.Status)
		}
		if currencyOf(r) != cur {
			return "", "", fmt.Errorf("write alipay bill: row %d: currency %s (Alipay bills are CNY)", i+1, r.Currency)
		}
		for _, id := range []string{r.ChannelTradeNo, r.OutTradeNo, r.OutRefundNo} {
			if strings.ContainsAny(id, ",\r\n") || strings.HasPrefix(id, "#") {
				return "", "", fmt.Errorf("write alipay bill: row %d: id %q cannot be written", i+1, id)
			}
		}
		typ, order, fee, refundNo := "交易", r.Amount, -r.Fee, ""
		if r.Kind == KindRefund {
			typ, order, fee, refundNo = "退款", -r.Amount, r.Fee, r.OutRefundNo
			refundN++
			refundRecv += order
		} else {
			tradeN++
			tradeRecv += order
		}
		feeSum += fee
		orderSum += order
		ts := formatTime(r.TradeTime, DefaultLocation)
		m := func(v int64) string { return formatMoney(v, cur) }
		cells := []string{r.ChannelTradeNo + "\t", r.OutTradeNo + "\t", typ + "\t", "", ts, ts,
			"\t", "\t", "\t", "\t", "\t", m(order), m(order), m(0), m(0), m(0), m(0), m(0), "",
			m(0) + "\t", m(0), refundNo + "\t", m(fee), m(0), ""}
		b.WriteString(strings.Join(cells, ","))
		b.WriteString("\r\n")
	}
	m := func(v int64) string { return formatMoney(v, cur) }
	b.WriteString("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
	fmt.Fprintf(&b, "#交易合计：%d笔，商家实收共%s元，商家优惠共%s元\r\n", tradeN, m(tradeRecv), m(0))
	fmt.Fprintf(&b, "#退款合计：%d笔，商家实收退款共%s元，商家优惠退款共%s元\r\n", refundN, m(refundRecv), m(0))
	fmt.Fprintf(&b, "#导出时间：[%s]\r\n", cn(end.Add(6*time.Hour)))
	detail = b.String()

	var sb strings.Builder
	sb.WriteString(preamble(apSummaryTitle, "业务汇总列表"))
	sb.WriteString("门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n")
	vals := fmt.Sprintf("%d,%d,%s,%s,%s,%s,%s,%s,%s,%s", tradeN, refundN, m(orderSum), m(orderSum), m(0), m(0), m(0), m(feeSum), m(0), m(orderSum+feeSum))
	sb.WriteString("\t,\t," + vals + "\r\n")
	sb.WriteString("合计,," + vals + "\r\n")
	sb.WriteString("#----------------------------------------业务汇总列表结束-------------------------------------\r\n")
	fmt.Fprintf(&sb, "#导出时间：[%s]\r\n", cn(end.Add(6*time.Hour)))
	return detail, sb.String(), nil
}
