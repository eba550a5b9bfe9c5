package demo

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paygw/paygw/internal/sign"
)

func TestMetricLine(t *testing.T) {
	for _, tc := range []struct {
		line   string
		name   string
		labels map[string]string
		value  float64
		ok     bool
	}{
		{`paygw_channel_call_seconds_count{channel="sandbox",op="pay",outcome="unknown"} 7`, "paygw_channel_call_seconds_count",
			map[string]string{"channel": "sandbox", "op": "pay", "outcome": "unknown"}, 7, true},
		{`go_goroutines 42`, "go_goroutines", map[string]string{}, 42, true},
		{`# HELP go_goroutines Number of goroutines.`, "", nil, 0, false},
		{``, "", nil, 0, false},
		{`broken_line`, "", nil, 0, false},
		{`x{a="b"} notanumber`, "", nil, 0, false},
	} {
		name, labels, v, ok := metricLine(tc.line)
		if ok != tc.ok || name != tc.name || v != tc.value || (ok && !cmp.Equal(labels, tc.labels)) {
			t.Errorf("metricLine(%q) = %q %v %v %v, want %q %v %v %v", tc.line, name, labels, v, ok, tc.name, tc.labels, tc.value, tc.ok)
		}
	}
}

func TestReceiver(t *testing.T) {
	r, err := newReceiver(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	r.register("1", "mch_a", "sk_a")
	body := []byte(`{"id":"evt_1","type":"payment.succeeded","created_at":"2026-11-22T10:01:02Z","data":{"id":"pay_1","merchant_id":"mch_a"}}`)
	other := []byte(`{"id":"evt_2","type":"payment.succeeded","created_at":"2026-11-22T10:01:02Z","data":{"id":"pay_2","merchant_id":"mch_b"}}`)
	post := func(key, secret, eventID string, b []byte) int {
		t.Helper()
		ts := time.Now().Unix()
		req, _ := http.NewRequest(http.MethodPost, r.endpoint(key), bytes.NewReader(b))
		req.Header.Set("Paygw-Event-Id", eventID)
		req.Header.Set("Paygw-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("Paygw-Signature", sign.Notification(secret, ts, b))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, key, secret, id string
		body                  []byte
		want                  int
	}{
		{"wrong secret", "1", "sk_other", "evt_1", body, http.StatusUnauthorized},
		{"unknown endpoint", "9", "sk_a", "evt_1", body, http.StatusUnauthorized},
		{"header id differs from body", "1", "sk_a", "evt_x", body, http.StatusBadRequest},
		{"another merchant's object", "1", "sk_a", "evt_2", other, http.StatusBadRequest},
		{"first delivery", "1", "sk_a", "evt_1", body, http.StatusNoContent},
		{"duplicate", "1", "sk_a", "evt_1", body, http.StatusNoContent},
	} {
		if got := post(tc.key, tc.secret, tc.id, tc.body); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	st := r.stats()
	if st.Unique != 1 || st.ByType["payment.succeeded"] != 1 || st.Dups != 1 || st.Bad != 4 || st.Attempts != 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestReceiverRefusesFirstAttempt(t *testing.T) {
	r, err := newReceiver(1) // refuse the first attempt of every event
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	r.register("1", "mch_a", "sk_a")
	body := []byte(`{"id":"evt_1","type":"refund.succeeded","data":{"id":"ref_1","payment_id":"pay_1"}}`)
	var codes []int
	for range 2 {
		ts := time.Now().Unix()
		req, _ := http.NewRequest(http.MethodPost, r.endpoint("1"), bytes.NewReader(body))
		req.Header.Set("Paygw-Event-Id", "evt_1")
		req.Header.Set("Paygw-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("Paygw-Signature", sign.Notification("sk_a", ts, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if !cmp.Equal(codes, []int{http.StatusServiceUnavailable, http.StatusNoContent}) {
		t.Errorf("codes %v, want a refused first attempt then acceptance", codes)
	}
	if st := r.stats(); st.Unique != 1 || st.Refused != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPlan(t *testing.T) {
	shops := []*shop{{Name: "a"}, {Name: "b"}}
	a, b := plan(300, shops, 5), plan(300, shops, 5)
	methods := map[string]int{}
	closes := 0
	for i := range a {
		if a[i].OutNo != b[i].OutNo || a[i].Amount != b[i].Amount || a[i].Method != b[i].Method {
			t.Fatalf("plan is not repeatable at %d: %+v vs %+v", i, a[i], b[i])
		}
		if a[i].Amount < 100 {
			t.Errorf("order %d amount %d below 1.00", i, a[i].Amount)
		}
		methods[a[i].Method]++
		if a[i].Close {
			closes++
		}
	}
	if methods["withhold"] == 0 || methods["wallet_qr"] == 0 || methods["online_banking"] == 0 || closes == 0 {
		t.Errorf("plan mix %v with %d closes: want every method and some closes", methods, closes)
	}
}
