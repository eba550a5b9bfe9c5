package store

import (
	"encoding/json"

	"github.com/paygw/paygw/internal/paygw"
)

// nextActionJSON is the stored form of a payment's next_action (payments.next_action).
type nextActionJSON struct {
	Type   string     `json:"type"`
	URL    string     `json:"url,omitempty"`
	QRCode string     `json:"qr_code,omitempty"`
	JSAPI  *jsapiJSON `json:"jsapi,omitempty"`
}

type jsapiJSON struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

func nextActionText(a *paygw.NextAction) string {
	if a == nil {
		return ""
	}
	j := nextActionJSON{Type: a.Type, URL: a.URL, QRCode: a.QRCode}
	if a.JSAPI != nil {
		p := jsapiJSON(*a.JSAPI)
		j.JSAPI = &p
	}
	b, _ := json.Marshal(j) // strings only: cannot fail
	return string(b)
}

func nextActionOf(s string) *paygw.NextAction {
	if s == "" {
		return nil
	}
	var j nextActionJSON
	if err := json.Unmarshal([]byte(s), &j); err != nil || j.Type == "" {
		return nil // written by nextActionText only; a damaged value shows as no action
	}
	a := &paygw.NextAction{Type: j.Type, URL: j.URL, QRCode: j.QRCode}
	if j.JSAPI != nil {
		p := paygw.JSAPIParams(*j.JSAPI)
		a.JSAPI = &p
	}
	return a
}
