package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/paygw/paygw/internal/gwtest"
	"github.com/paygw/paygw/internal/store"
	"github.com/paygw/paygw/internal/storetest"
)

// syncBuffer collects log lines written from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			m["_len"] = float64(len(sc.Bytes()))
			out = append(out, m)
		}
	}
	return out
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Issue 14 item 2: unauthenticated requests with made-up methods (and long paths and user
// agents) must neither add metric series nor write long log lines.
func TestMetricsLabelsClosedAndLogValuesCapped(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	var logs syncBuffer
	log := zerolog.New(&logs)
	e := gwtest.Start(t, s, gwtest.Options{Log: &log})

	before := scrape(t, e.Server.URL)
	longPath := "/" + strings.Repeat("p", 4000)
	for i := 0; i < 50; i++ {
		method := strings.Repeat("X", 2000) + string(rune('A'+i%26)) + strings.Repeat("Y", i)
		req, err := http.NewRequest(method, e.Server.URL+longPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("User-Agent", strings.Repeat("u", 4000))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	after := scrape(t, e.Server.URL)
	if strings.Contains(after, "XXXX") {
		t.Fatalf("a raw method became a label value")
	}
	if !strings.Contains(after, `method="other"`) {
		t.Fatalf("unknown methods are not counted as \"other\":\n%s", after)
	}
	// One new series family for ("/", "other", "404"), not one per method.
	if grow := len(after) - len(before); grow > 4000 {
		t.Fatalf("/metrics grew by %d bytes for 50 made-up methods", grow)
	}
	var access int
	for _, l := range logs.lines() {
		if l["_len"].(float64) > 1024 {
			t.Fatalf("log line of %v bytes: %.200v", l["_len"], l)
		}
		if l["message"] == "request" {
			access++
			if l["method"] != "other" {
				t.Fatalf("logged method %.50q", l["method"])
			}
		}
	}
	if access != 50 {
		t.Fatalf("%d access log lines, want 50", access)
	}
}

// Issue 14 item 12: the access log names the authenticated merchant.
func TestAccessLogMerchantID(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	var logs syncBuffer
	log := zerolog.New(&logs)
	e := gwtest.Start(t, s, gwtest.Options{Log: &log})
	withholdAgreement(t, e.Client, "AGR-LOG")
	var found bool
	for _, l := range logs.lines() {
		if l["message"] == "request" && l["route"] == "POST /v1/agreements" {
			found = true
			if l["merchant_id"] != e.Merchant.ID {
				t.Fatalf("access log merchant_id %q, want %q", l["merchant_id"], e.Merchant.ID)
			}
			if l["status"] != float64(201) && l["status"] != float64(200) {
				t.Fatalf("status %v", l["status"])
			}
		}
	}
	if !found {
		t.Fatalf("no access log line for POST /v1/agreements")
	}
}
