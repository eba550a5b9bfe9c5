package alipaysim

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/paygw/paygw/internal/channel/alipay"
	"github.com/paygw/paygw/internal/money"
)

// cashierTmpl is the payer's page; html/template escapes every value.
var cashierTmpl = template.Must(template.New("cashier").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>支付宝 (simulator)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}.amount{font-size:2em}</style></head>
<body><h1>Alipay simulator</h1>
{{if .Agreement}}<p>Withholding agreement {{.Agreement}} ({{.Status}})</p>
{{if eq .Status "TEMP"}}<form method="post" action="/agreement/{{.Agreement}}"><button type="submit">Agree and sign</button></form>{{end}}
{{else}}<p class="subject">{{.Subject}}</p>
<p class="amount">¥{{.Amount}}</p>
<p>Trade {{.TradeNo}} · {{.Product}}</p>
{{if eq .Status "WAIT_BUYER_PAY"}}<form method="post" action="/cashier/{{.TradeNo}}">
<button type="submit" name="action" value="pay">Pay ¥{{.Amount}}</button></form>
{{else}}<p class="status">{{.Status}}</p>{{end}}{{end}}
{{if .ReturnURL}}<p><a href="{{.ReturnURL}}">Back to the merchant</a></p>{{end}}
</body></html>
`))

type view struct {
	TradeNo, Subject, Amount, Product, Status, Agreement string
	ReturnURL                                            template.URL
}

func render(w http.ResponseWriter, status int, v view) {
	var buf bytes.Buffer
	if err := cashierTmpl.Execute(&buf, v); err != nil {
		http.Error(w, "render", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func safeURL(u string) template.URL {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") {
		return ""
	}
	return template.URL(u)
}

func tradeView(t *trade) view {
	return view{TradeNo: t.TradeNo, Subject: t.Subject, Amount: money.Format(t.Amount, "CNY"), Product: t.Product,
		Status: t.Status, ReturnURL: safeURL(t.ReturnURL)}
}

// handlePage serves the signed GET URLs of page.pay, wap.pay and agreement.page.sign: the
// signature is checked like an API call's; an error shows as a page (Alipay's error page).
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	form := r.URL.Query()
	if aerr := s.verifyRequest(form); aerr != nil {
		http.Error(w, "alipay: "+aerr.sub+": "+aerr.subMsg, http.StatusBadRequest)
		return
	}
	biz := map[string]any{}
	d := json.NewDecoder(strings.NewReader(form.Get("biz_content")))
	d.UseNumber()
	if err := d.Decode(&biz); err != nil {
		http.Error(w, "alipay: biz_content is not JSON", http.StatusBadRequest)
		return
	}
	c := &call{s: s, r: r, form: form, biz: biz}
	switch m := form.Get("method"); m {
	case alipay.MethodPagePay, alipay.MethodWapPay:
		product := "FAST_INSTANT_TRADE_PAY"
		if m == alipay.MethodWapPay {
			product = "QUICK_WAP_WAY"
		}
		if c.str("product_code") != product {
			http.Error(w, "alipay: product_code must be "+product, http.StatusBadRequest)
			return
		}
		n, aerr := s.newTrade(c.str, product, form.Get("notify_url"), form.Get("return_url"))
		if aerr != nil {
			http.Error(w, "alipay: "+aerr.sub+": "+aerr.subMsg, http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		t := s.trades[n.OutTradeNo]
		opened := t == nil
		if t != nil {
			if t.Amount != n.Amount || t.Product != n.Product {
				s.mu.Unlock()
				http.Error(w, "alipay: ACQ.CONTEXT_INCONSISTENT", http.StatusBadRequest)
				return
			}
		} else {
			s.insertLocked(n)
			t = n
		}
		s.expireLocked(t)
		if t.Status == statusNone {
			t.Status = statusWait // the payer opened it: the trade exists now
		}
		v := tradeView(t)
		s.mu.Unlock()
		if opened {
			s.autoPay(v.TradeNo)
		}
		render(w, http.StatusOK, v)
	case alipay.MethodAgreementSign:
		s.pageSign(w, c)
	default:
		http.Error(w, "alipay: isv.invalid-method", http.StatusBadRequest)
	}
}

// handleScan is the payer scanning a precreate QR code: the trade now exists (WAIT_BUYER_PAY).
func (s *Server) handleScan(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t := s.byNo[r.PathValue("trade_no")]
	if t == nil {
		s.mu.Unlock()
		http.Error(w, "no such trade", http.StatusNotFound)
		return
	}
	s.expireLocked(t)
	if t.Status == statusNone {
		t.Status = statusWait
	}
	v := tradeView(t)
	s.mu.Unlock()
	render(w, http.StatusOK, v)
}

// handleCashierPay is the payer paying: WAIT_BUYER_PAY becomes TRADE_SUCCESS and the
// notification goes out.
func (s *Server) handleCashierPay(w http.ResponseWriter, r *http.Request) {
	t, ok := s.payByNo(r.PathValue("trade_no"))
	if t.TradeNo == "" {
		http.Error(w, "no such trade", http.StatusNotFound)
		return
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusConflict
	}
	render(w, status, tradeView(&t))
}

// payByNo pays a trade that is open (or not scanned yet) and notifies; it returns a copy.
func (s *Server) payByNo(tradeNo string) (trade, bool) {
	s.mu.Lock()
	t := s.byNo[tradeNo]
	if t == nil {
		s.mu.Unlock()
		return trade{}, false
	}
	s.expireLocked(t)
	if t.Status != statusNone && t.Status != statusWait {
		cp := *t
		s.mu.Unlock()
		return cp, false
	}
	s.succeedLocked(t)
	n := s.tradeNoteLocked(t)
	cp := *t
	s.mu.Unlock()
	s.notify(n)
	return cp, true
}

// autoPay pays tradeNo after Options.AutoPay, when set.
func (s *Server) autoPay(tradeNo string) {
	if s.opts.AutoPay <= 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if s.sleep(s.opts.AutoPay) {
			s.payByNo(tradeNo)
		}
	}()
}

func (s *Server) pageSign(w http.ResponseWriter, c *call) {
	ext := c.str("external_agreement_no")
	if ext == "" || len(ext) > 32 {
		http.Error(w, "alipay: external_agreement_no 1..32", http.StatusBadRequest)
		return
	}
	if c.str("personal_product_code") != alipay.PersonalProductWithhold || c.str("product_code") != alipay.ProductWithhold {
		http.Error(w, "alipay: only GENERAL_WITHHOLDING agreements are simulated", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	a := s.agreements[ext]
	if a == nil {
		a = &agreement{External: ext, Status: alipay.AgreementTemp, NotifyURL: c.form.Get("notify_url"), ReturnURL: c.form.Get("return_url")}
		s.agreements[ext] = a
	}
	v := view{Agreement: a.External, Status: a.Status, ReturnURL: safeURL(a.ReturnURL)}
	s.mu.Unlock()
	if s.opts.AutoPay > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if s.sleep(s.opts.AutoPay) {
				s.confirm(ext)
			}
		}()
	}
	render(w, http.StatusOK, v)
}

func (s *Server) handleAgreementConfirm(w http.ResponseWriter, r *http.Request) {
	a, ok := s.confirm(r.PathValue("external"))
	if a.External == "" {
		http.Error(w, "no such agreement", http.StatusNotFound)
		return
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusConflict
	}
	render(w, status, view{Agreement: a.External, Status: a.Status, ReturnURL: safeURL(a.ReturnURL)})
}

// confirm signs a TEMP agreement: NORMAL, an agreement_no, and a dut_user_sign notification.
func (s *Server) confirm(ext string) (agreement, bool) {
	s.mu.Lock()
	a := s.agreements[ext]
	if a == nil {
		s.mu.Unlock()
		return agreement{}, false
	}
	if a.Status != alipay.AgreementTemp {
		c := *a
		s.mu.Unlock()
		return c, false
	}
	a.Status, a.No, a.SignTime = alipay.AgreementNormal, s.nextNo("2025"), s.now()
	s.agrByNo[a.No] = a
	n := s.agreementNoteLocked(a, alipay.NotifyAgreement)
	c := *a
	s.mu.Unlock()
	s.notify(n)
	return c, true
}

func (s *Server) agreementNoteLocked(a *agreement, typ string) *note {
	if a.NotifyURL == "" {
		return nil
	}
	f := s.noteForm(typ)
	f.Set("agreement_no", a.No)
	f.Set("external_agreement_no", a.External)
	f.Set("status", a.Status)
	f.Set("personal_product_code", alipay.PersonalProductWithhold)
	f.Set("sign_scene", alipay.SignScene)
	f.Set("alipay_user_id", "2088102116773037")
	f.Set("sign_time", fmtTime(a.SignTime))
	if typ == alipay.NotifyUnagreement {
		f.Set("unsign_time", fmtTime(s.now()))
	}
	return &note{id: f.Get("notify_id"), url: a.NotifyURL, form: f}
}

func (c *call) agreementFind() (*agreement, *apiError) {
	s := c.s
	var a *agreement
	if no := c.str("agreement_no"); no != "" {
		a = s.agrByNo[no]
	} else {
		a = s.agreements[c.str("external_agreement_no")]
	}
	if a == nil {
		return nil, bizErr("USER_AGREEMENT_NOT_EXIST", "用户协议不存在")
	}
	return a, nil
}

func (c *call) agreementQuery() (map[string]any, *apiError) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	a, aerr := c.agreementFind()
	if aerr != nil {
		return nil, aerr
	}
	out := map[string]any{"external_agreement_no": a.External, "status": a.Status,
		"personal_product_code": alipay.PersonalProductWithhold, "sign_scene": alipay.SignScene}
	if a.No != "" {
		out["agreement_no"] = a.No
		out["sign_time"] = fmtTime(a.SignTime)
		out["valid_time"] = fmtTime(a.SignTime)
		out["invalid_time"] = "2115-02-01 00:00:00"
	}
	return out, nil
}

func (c *call) agreementUnsign() (map[string]any, *apiError) {
	s := c.s
	s.mu.Lock()
	a, aerr := c.agreementFind()
	if aerr != nil {
		s.mu.Unlock()
		return nil, aerr
	}
	var n *note
	if a.Status != alipay.AgreementUnsign {
		a.Status = alipay.AgreementUnsign
		n = s.agreementNoteLocked(a, alipay.NotifyUnagreement)
	}
	s.mu.Unlock()
	s.notify(n)
	return map[string]any{}, nil
}
