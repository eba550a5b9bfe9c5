package sandbox

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/paygw/paygw/internal/channel"
	"github.com/paygw/paygw/internal/money"
)

// cashierTmpl is the payer's page. html/template escapes every value (subjects come from merchants).
var cashierTmpl = template.Must(template.New("cashier").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox cashier</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:28em;margin:3em auto}.amount{font-size:2em}</style></head>
<body><h1>Sandbox cashier</h1>
<p class="subject">{{.Subject}}</p>
<p class="amount">{{.Amount}} {{.Currency}}</p>
<p>Trade {{.TradeNo}} · {{.Method}}</p>
{{if eq .Status "processing"}}<form method="post" action="/cashier/{{.TradeNo}}">
<button type="submit" name="action" value="pay">Pay {{.Amount}} {{.Currency}}</button></form>
{{else if eq .Status "succeeded"}}<p class="done">Paid. Thank you.</p>
{{else}}<p class="closed">This payment is {{.Status}}{{if .Reason}} ({{.Reason}}){{end}}.</p>{{end}}
{{if and .ReturnURL (ne .Status "processing")}}<p><a href="{{.ReturnURL}}">Back to the merchant</a></p>{{end}}
</body></html>
`))

type cashierView struct {
	TradeNo, Subject, Amount, Currency, Method, Status, Reason string
	ReturnURL                                                  template.URL
}

func viewOf(t trade) cashierView {
	v := cashierView{
		TradeNo: t.TradeNo, Subject: t.Subject, Amount: money.Format(t.Amount, money.Currency(t.Currency)),
		Currency: t.Currency, Method: t.PayMethod, Status: string(t.Status), Reason: t.Reason,
	}
	if t.ReturnURL != "" {
		v.ReturnURL = template.URL(t.ReturnURL) // scheme checked (http/https) when the trade was created
	}
	return v
}

func (s *Server) handleCashierGet(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	s.mu.Lock()
	t := s.tradesByNo[r.PathValue("trade_no")]
	var v trade
	if t != nil && !t.Tombstone && isRedirect(t.PayMethod) {
		if t.expire(now) {
			s.touchTrade(t)
		}
		v = *t
	}
	s.mu.Unlock()
	if v.TradeNo == "" {
		http.Error(w, "no such trade", http.StatusNotFound)
		return
	}
	renderCashier(w, http.StatusOK, v)
}

func (s *Server) handleCashierPost(w http.ResponseWriter, r *http.Request) {
	no := r.PathValue("trade_no")
	s.mu.Lock()
	t := s.tradesByNo[no]
	redirect := t != nil && isRedirect(t.PayMethod)
	s.mu.Unlock()
	if !redirect {
		http.Error(w, "no such trade", http.StatusNotFound)
		return
	}
	v, ok := s.payTrade(no, false)
	if !ok {
		http.Error(w, "no such trade", http.StatusNotFound)
		return
	}
	status := http.StatusOK
	if v.Status != channel.StatusSucceeded {
		status = http.StatusConflict
	}
	renderCashier(w, status, v)
}

func renderCashier(w http.ResponseWriter, status int, t trade) {
	var buf bytes.Buffer
	if err := cashierTmpl.Execute(&buf, viewOf(t)); err != nil {
		http.Error(w, "render cashier page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
