package statement

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paygw/paygw/internal/money"
)

// WeChatLayout is one of the WeChat Pay trade bill types (bill_type).
type WeChatLayout string

// The WeChat Pay trade bill layouts.
const (
	WeChatAll     WeChatLayout = "ALL"
	WeChatSuccess WeChatLayout = "SUCCESS"
	WeChatRefund  WeChatLayout = "REFUND"
)

// WeChat Pay column names (current format). Legacy aliases are listed in wechatAliases.
const (
	wxTime         = "交易时间"
	wxTradeNo      = "微信订单号"
	wxOutTradeNo   = "商户订单号"
	wxTradeStatus  = "交易状态"
	wxCurrency     = "货币种类"
	wxSettle       = "应结订单金额"
	wxRefundNo     = "微信退款单号"
	wxOutRefundNo  = "商户退款单号"
	wxRefundAmount = "退款金额"
	wxRefundStatus = "退款状态"
	wxFee          = "手续费"
	wxOrderAmount  = "订单金额"
	wxReqRefund    = "申请退款金额"
	wxRefundApply  = "退款申请时间"

	wxSumCount     = "总交易单数"
	wxSumSettle    = "应结订单总金额"
	wxSumRefund    = "退款总金额"
	wxSumFee       = "手续费总金额"
	wxSumOrder     = "订单总金额"
	wxSumReqRefund = "申请退款总金额"
)

// wechatAliases maps legacy header names (still served to some old merchants) to current ones.
var wechatAliases = map[string]string{
	"子商户号":          "特约商户号",
	"总金额":           wxSettle,
	"企业红包金额":        "代金券金额",
	"代金券或立减优惠金额":    "代金券金额",
	"返还手续费":         wxFee, // RECHARGE_REFUND bills
	"总交易额":          wxSumSettle,
	"总退款金额":         wxSumRefund,
	"总代金券或立减优惠退款金额": "充值券退款总金额",
	"总企业红包退款金额":     "充值券退款总金额",
}

// wechatHeaders are the exact header lines written by WriteWeChatPay, per layout.
var wechatHeaders = map[WeChatLayout][]string{
	WeChatAll:     strings.Split("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注", ","),
	WeChatSuccess: strings.Split("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注", ","),
	WeChatRefund:  strings.Split("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注", ","),
}

var wechatSummaryHeaders = map[WeChatLayout][]string{
	WeChatAll:     strings.Split("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额", ","),
	WeChatSuccess: strings.Split("总交易单数,应结订单总金额,手续费总金额,订单总金额", ","),
	WeChatRefund:  strings.Split("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额", ","),
}

// wechatRequired are the detail columns every layout must have.
var wechatRequired = []string{wxTime, wxTradeNo, wxOutTradeNo, wxTradeStatus, wxCurrency, wxSettle, wxFee}

// wechatRefundRequired are needed as soon as a refund row appears.
var wechatRefundRequired = []string{wxRefundNo, wxOutRefundNo, wxRefundAmount, wxRefundStatus}

// wechatSums are the raw column sums (signed, minor units) checked against the summary row.
type wechatSums struct {
	count                                     int
	settle, refund, fee, order, requestRefund int64
}

type wechatSource struct {
	name         string
	opts         Options
	lr           *lineReader
	cols         map[string]int // canonical column name -> index
	ncols        int
	refundLayout bool
	sums         wechatSums
	currency     money.Currency
	fields       []string
	done         bool
	summary      map[string]string // canonical summary name -> value, once read
	sumLine      int
}

func openWeChatPay(name string, r io.Reader, opts Options) (source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		cr := &countReader{r: br}
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return nil, &Error{File: name, Msg: "bad gzip stream", Err: err}
		}
		br = bufio.NewReaderSize(&expandLimit{name: name, r: zr, compressed: func() int64 { return cr.n }}, 64<<10)
	}
	s := &wechatSource{name: name, opts: opts, lr: newLineReader(name, br), currency: opts.Currency}
	line, err := s.lr.next()
	if err == io.EOF {
		return nil, &Error{File: name, Line: 1, Msg: "empty file: not a WeChat Pay bill"}
	}
	if err != nil {
		return nil, err
	}
	if !utf8.Valid(line) {
		return nil, &Error{File: name, Line: 1, Msg: "header is not valid UTF-8 (a WeChat Pay bill is UTF-8)"}
	}
	head := stripBOM(string(line))
	if strings.HasPrefix(strings.TrimSpace(head), "<xml") || strings.HasPrefix(strings.TrimSpace(head), "{") {
		return nil, &Error{File: name, Line: 1, Msg: fmt.Sprintf("channel error reply instead of a bill: %.200s", head)}
	}
	names := strings.Split(head, ",")
	s.cols = make(map[string]int, len(names))
	for i, n := range names {
		n = strings.TrimSpace(n)
		if a, ok := wechatAliases[n]; ok {
			n = a
		}
		if _, dup := s.cols[n]; dup {
			return nil, &Error{File: name, Line: 1, Field: n, Msg: "duplicate header column"}
		}
		s.cols[n] = i
	}
	s.ncols = len(names)
	for _, req := range wechatRequired {
		if _, ok := s.cols[req]; !ok {
			return nil, &Error{File: name, Line: 1, Field: req, Msg: fmt.Sprintf("missing column in header (not a WeChat Pay trade bill?): %.200s", head)}
		}
	}
	_, s.refundLayout = s.cols[wxRefundApply]
	return s, nil
}

// splitWeChat splits a backtick-prefixed bill line on the ",`" sequence, so that unquoted commas
// inside 商品名称 / 商户数据包 survive.
func splitWeChat(line string, dst []string) ([]string, bool) {
	if !strings.HasPrefix(line, "`") {
		return dst, false
	}
	line = line[1:]
	dst = dst[:0]
	for {
		i := strings.Index(line, ",`")
		if i < 0 {
			return append(dst, line), true
		}
		dst = append(dst, line[:i])
		line = line[i+2:]
	}
}

func (s *wechatSource) next() (Row, error) {
	if s.done {
		return Row{}, io.EOF
	}
	for {
		b, err := s.lr.next()
		if err == io.EOF {
			s.done = true
			return Row{}, io.EOF
		}
		if err != nil {
			return Row{}, err
		}
		ln := s.lr.line
		if !utf8.Valid(b) {
			return Row{}, &Error{File: s.name, Line: ln, Msg: "line is not valid UTF-8"}
		}
		line := string(b)
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, wxSumCount) {
			if err := s.readSummary(line, ln); err != nil {
				return Row{}, err
			}
			s.done = true
			return Row{}, io.EOF
		}
		var ok bool
		s.fields, ok = splitWeChat(line, s.fields)
		if !ok {
			return Row{}, &Error{File: s.name, Line: ln, Msg: "detail row does not start with a backtick"}
		}
		if len(s.fields) != s.ncols {
			e := &Error{File: s.name, Line: ln, Msg: fmt.Sprintf("row has %d fields, header has %d", len(s.fields), s.ncols)}
			if !s.lr.lastHadEOL {
				e.Msg += " (last line cut short: truncated file?)"
				e.Err = ErrTotals
			}
			return Row{}, e
		}
		return s.parseRow(ln)
	}
}

func (s *wechatSource) col(name string) (string, bool) {
	i, ok := s.cols[name]
	if !ok {
		return "", false
	}
	return s.fields[i], true
}

func (s *wechatSource) parseRow(ln int) (Row, error) {
	name := s.name
	get := func(c string) string { v, _ := s.col(c); return v }
	row := Row{Line: ln, Kind: KindPayment}
	tradeStatus := get(wxTradeStatus)
	if tradeStatus == "" {
		return Row{}, fieldErr(name, ln, wxTradeStatus, "empty")
	}
	if s.refundLayout || tradeStatus == "REFUND" {
		row.Kind = KindRefund
		for _, req := range wechatRefundRequired {
			if _, ok := s.cols[req]; !ok {
				return Row{}, fieldErr(name, ln, req, "refund row but the header has no such column")
			}
		}
	}
	var err error
	timeCol := wxTime
	if row.Kind == KindRefund && get(wxRefundApply) != "" {
		timeCol = wxRefundApply // REFUND bills: the refund's own time, like 交易时间 of an ALL bill's refund row
	}
	if row.TradeTime, err = parseBillTime(name, ln, timeCol, get(timeCol), s.opts.Location); err != nil {
		return Row{}, err
	}
	if row.Currency, err = parseCurrency(name, ln, wxCurrency, get(wxCurrency), s.opts.Currency); err != nil {
		return Row{}, err
	}
	s.currency = row.Currency
	row.ChannelTradeNo, row.OutTradeNo = get(wxTradeNo), get(wxOutTradeNo)
	if err := checkID(name, ln, wxTradeNo, row.ChannelTradeNo, true); err != nil {
		return Row{}, err
	}
	if err := checkID(name, ln, wxOutTradeNo, row.OutTradeNo, false); err != nil {
		return Row{}, err
	}
	amt := func(c string, lenient bool) (int64, bool, error) {
		v, ok := s.col(c)
		if !ok {
			return 0, false, nil
		}
		n, err := parseAmount(name, ln, c, v, row.Currency, lenient)
		return n, true, err
	}
	settle, _, err := amt(wxSettle, false)
	if err != nil {
		return Row{}, err
	}
	fee, _, err := amt(wxFee, true)
	if err != nil {
		return Row{}, err
	}
	order, hasOrder, err := amt(wxOrderAmount, false)
	if err != nil {
		return Row{}, err
	}
	refund, _, err := amt(wxRefundAmount, false)
	if err != nil {
		return Row{}, err
	}
	reqRefund, hasReqRefund, err := amt(wxReqRefund, false)
	if err != nil {
		return Row{}, err
	}
	s.sums.count++
	s.sums.settle += settle
	s.sums.fee += fee
	s.sums.order += order
	s.sums.refund += refund
	s.sums.requestRefund += reqRefund

	if row.Kind == KindPayment {
		row.Amount, row.Fee = settle, fee
		if hasOrder {
			row.Amount = order
		}
		if row.Amount < 0 {
			return Row{}, fieldErr(name, ln, wxOrderAmount, "negative payment amount")
		}
		row.Status = normalizeStatus(KindPayment, tradeStatus)
		return row, nil
	}
	row.ChannelRefundNo, row.OutRefundNo = get(wxRefundNo), get(wxOutRefundNo)
	if err := checkID(name, ln, wxRefundNo, row.ChannelRefundNo, true); err != nil {
		return Row{}, err
	}
	if err := checkID(name, ln, wxOutRefundNo, row.OutRefundNo, false); err != nil {
		return Row{}, err
	}
	row.Amount, row.Fee = refund, -fee
	if hasReqRefund {
		row.Amount = reqRefund
	}
	if row.Amount < 0 {
		return Row{}, fieldErr(name, ln, wxReqRefund, "negative refund amount")
	}
	st := get(wxRefundStatus)
	if st == "" {
		return Row{}, fieldErr(name, ln, wxRefundStatus, "empty on a refund row")
	}
	row.Status = normalizeStatus(KindRefund, st)
	return row, nil
}

// readSummary reads the summary header line (already in hand) and the summary data line after it.
func (s *wechatSource) readSummary(header string, headerLine int) error {
	names := strings.Split(header, ",")
	for {
		b, err := s.lr.next()
		if err == io.EOF {
			return &Error{File: s.name, Line: headerLine, Msg: "summary header without summary row (truncated file?)", Err: ErrTotals}
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) == "" {
			continue
		}
		ln := s.lr.line
		if !utf8.Valid(b) {
			return &Error{File: s.name, Line: ln, Msg: "line is not valid UTF-8"}
		}
		vals, ok := splitWeChat(string(b), nil)
		if !ok {
			return &Error{File: s.name, Line: ln, Msg: "summary row does not start with a backtick"}
		}
		if len(vals) != len(names) {
			return &Error{File: s.name, Line: ln, Msg: fmt.Sprintf("summary row has %d fields, summary header has %d", len(vals), len(names)), Err: ErrTotals}
		}
		s.summary = make(map[string]string, len(names))
		for i, n := range names {
			n = strings.TrimSpace(n)
			if a, ok := wechatAliases[n]; ok {
				n = a
			}
			s.summary[n] = vals[i]
		}
		s.sumLine = ln
		break
	}
	// Nothing but blank lines may follow.
	for {
		b, err := s.lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(b)) != "" {
			return &Error{File: s.name, Line: s.lr.line, Msg: "unexpected line after the summary row"}
		}
	}
}

func (s *wechatSource) verify() error {
	if s.summary == nil {
		return &Error{File: s.name, Msg: "summary (总交易单数…) missing: truncated file?", Err: ErrTotals}
	}
	ln := s.sumLine
	countStr, ok := s.summary[wxSumCount]
	if !ok {
		return &Error{File: s.name, Line: ln, Field: wxSumCount, Msg: "missing in summary", Err: ErrTotals}
	}
	count, err := strconv.Atoi(countStr)
	if err != nil || count < 0 || strconv.Itoa(count) != countStr {
		return &Error{File: s.name, Line: ln, Field: wxSumCount, Msg: fmt.Sprintf("bad count %q", countStr)}
	}
	if count != s.sums.count {
		return &Error{File: s.name, Line: ln, Field: wxSumCount,
			Msg: fmt.Sprintf("summary says %d rows, file has %d (truncated or edited file)", count, s.sums.count), Err: ErrTotals}
	}
	checks := []struct {
		sum, detail string
		got         int64
	}{
		{wxSumSettle, wxSettle, s.sums.settle},
		{wxSumRefund, wxRefundAmount, s.sums.refund},
		{wxSumFee, wxFee, s.sums.fee},
		{wxSumOrder, wxOrderAmount, s.sums.order},
		{wxSumReqRefund, wxReqRefund, s.sums.requestRefund},
	}
	for _, c := range checks {
		v, ok := s.summary[c.sum]
		if !ok {
			continue
		}
		if _, has := s.cols[c.detail]; !has {
			continue
		}
		want, err := parseAmount(s.name, ln, c.sum, v, s.currency, true)
		if err != nil {
			return err
		}
		if want != c.got {
			return &Error{File: s.name, Line: ln, Field: c.sum, Err: ErrTotals,
				Msg: fmt.Sprintf("summary says %s, detail rows add up to %s", v, money.Format(c.got, s.currency))}
		}
	}
	return nil
}

// WriteWeChatPay writes rows as a WeChat Pay trade bill of the given layout: UTF-8 with BOM, CRLF
// line ends, a backtick before every value and a correct summary block. Fields the Row does not
// carry (appid, openid, bank, …) are written empty or with neutral values. SUCCESS bills take
// payment rows only and REFUND bills refund rows only.
func WriteWeChatPay(w io.Writer, rows []Row, layout WeChatLayout) error {
	header, ok := wechatHeaders[layout]
	if !ok {
		return fmt.Errorf("write wechatpay bill: unknown layout %q (want ALL, SUCCESS or REFUND)", layout)
	}
	idx := make(map[string]int, len(header))
	for i, h := range header {
		idx[h] = i
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("\uFEFF")
	bw.WriteString(strings.Join(header, ","))
	bw.WriteString("\r\n")
	var sums wechatSums
	cur := money.Currency("CNY")
	vals := make([]string, len(header))
	for i, r := range rows {
		if err := checkWritable(r); err != nil {
			return fmt.Errorf("write wechatpay bill: row %d: %w", i+1, err)
		}
		if (layout == WeChatSuccess && r.Kind != KindPayment) || (layout == WeChatRefund && r.Kind != KindRefund) {
			return fmt.Errorf("write wechatpay bill: row %d: %s row in a %s bill", i+1, r.Kind, layout)
		}
		cur = currencyOf(r)
		for j := range vals {
			vals[j] = ""
		}
		set := func(col, v string) {
			if j, ok := idx[col]; ok {
				vals[j] = v
			}
		}
		ts := formatTime(r.TradeTime, DefaultLocation)
		set(wxTime, ts)
		set("特约商户号", "0")
		set("交易类型", "NATIVE")
		set("付款银行", "OTHERS")
		set(wxCurrency, string(cur))
		set(wxTradeNo, r.ChannelTradeNo)
		set(wxOutTradeNo, r.OutTradeNo)
		set("代金券金额", formatMoney(0, cur))
		set("充值券退款金额", formatMoney(0, cur))
		sums.count++
		if r.Kind == KindPayment {
			st := channelStatus(KindPayment, r.Status)
			if st == "REFUND" || st == "" {
				return fmt.Errorf("write wechatpay bill: row %d: payment status %q", i+1, r.Status)
			}
			set(wxTradeStatus, st)
			set(wxSettle, formatMoney(r.Amount, cur))
			set(wxOrderAmount, formatMoney(r.Amount, cur))
			set(wxRefundNo, "0")
			set(wxOutRefundNo, "0")
			set(wxRefundAmount, formatMoney(0, cur))
			set(wxReqRefund, formatMoney(0, cur))
			set(wxFee, formatFee5(r.Fee, cur))
			sums.settle += r.Amount
			sums.order += r.Amount
			sums.fee += r.Fee
		} else {
			st := channelStatus(KindRefund, r.Status)
			if st == "" {
				return fmt.Errorf("write wechatpay bill: row %d: empty refund status", i+1)
			}
			set(wxTradeStatus, "REFUND")
			set(wxSettle, formatMoney(0, cur))
			set(wxOrderAmount, formatMoney(0, cur))
			set(wxRefundApply, ts)
			if r.Status == StatusSucceeded {
				set("退款成功时间", ts)
			}
			set(wxRefundNo, r.ChannelRefundNo)
			set(wxOutRefundNo, r.OutRefundNo)
			set(wxRefundAmount, formatMoney(r.Amount, cur))
			set(wxReqRefund, formatMoney(r.Amount, cur))
			set("退款类型", "ORIGINAL")
			set(wxRefundStatus, st)
			set(wxFee, formatFee5(-r.Fee, cur))
			sums.refund += r.Amount
			sums.requestRefund += r.Amount
			sums.fee -= r.Fee
		}
		for j, v := range vals {
			if strings.Contains(v, ",`") || strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("write wechatpay bill: row %d: column %s: value %q cannot be written unquoted", i+1, header[j], v)
			}
		}
		bw.WriteString("`")
		bw.WriteString(strings.Join(vals, ",`"))
		bw.WriteString("\r\n")
	}
	sh := wechatSummaryHeaders[layout]
	bw.WriteString(strings.Join(sh, ","))
	bw.WriteString("\r\n")
	sv := make([]string, len(sh))
	for j, n := range sh {
		switch n {
		case wxSumCount:
			sv[j] = fmt.Sprint(sums.count)
		case wxSumSettle:
			sv[j] = formatMoney(sums.settle, cur)
		case wxSumRefund:
			sv[j] = formatMoney(sums.refund, cur)
		case wxSumFee:
			sv[j] = formatFee5(sums.fee, cur)
		case wxSumOrder:
			sv[j] = formatMoney(sums.order, cur)
		case wxSumReqRefund:
			sv[j] = formatMoney(sums.requestRefund, cur)
		default:
			sv[j] = formatMoney(0, cur)
		}
	}
	bw.WriteString("`")
	bw.WriteString(strings.Join(sv, ",`"))
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write wechatpay bill: %w", err)
	}
	return nil
}

// formatFee5 prints a fee the way WeChat Pay does: five decimals for a two-decimal currency.
func formatFee5(v int64, cur money.Currency) string {
	s := formatMoney(v, cur)
	if bytes.IndexByte([]byte(s), '.') >= 0 {
		s += "000"
	}
	return s
}
