package cli_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The new flags through the real command tree against a loopback server; the closed-loop
// output lines that scripts and BENCHMARKS.md read stay as they were.
func TestLoadgenRateNotifyURLAndReportEvery(t *testing.T) {
	var n, withURL atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 4096)
		k, _ := r.Body.Read(buf)
		n.Add(1)
		if strings.Contains(string(buf[:k]), `"notify_url":"http://127.0.0.1:9/n"`) {
			withURL.Add(1)
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"status":"processing"}`))
	}))
	defer srv.Close()
	base := []string{"loadgen", "--url", srv.URL, "--merchant", "m", "--secret", "s", "--pay-method", "wallet_qr", "--warmup", "0"}
	code, out, errOut := run(t, nil, append(base, "--rate", "100", "--duration", "1s", "--concurrency", "4",
		"--report-every", "300ms", "--notify-url", "http://127.0.0.1:9/n")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"interval 1  at 0s  ", "interval 3  at ", "requests ", " payments/s\nlatency ms  p50 ",
		"first vs last interval (1 → 3):  throughput ", "error rate 0.0000% (0 of "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n.Load() < 90 || n.Load() > 110 || withURL.Load() != n.Load() {
		t.Errorf("server saw %d payments (%d with the notify_url), want ~100 all with it", n.Load(), withURL.Load())
	}

	// Without the new flags: the old two lines, nothing else.
	code, out, _ = run(t, nil, append(base, "--requests", "5", "--concurrency", "2")...)
	if code != 0 || strings.Contains(out, "interval") || !strings.HasPrefix(out, "requests 5  succeeded 5  in ") || strings.Count(out, "\n") != 2 {
		t.Errorf("closed loop output changed (exit %d):\n%s", code, out)
	}

	for _, bad := range [][]string{{"--rate", "-5"}, {"--report-every", "-1s"}, {"--notify-url", "ftp://x"}} {
		code, _, errOut := run(t, nil, append(append(base, "--requests", "1"), bad...)...)
		if code != 2 || !strings.Contains(errOut, bad[0]) {
			t.Errorf("%v: exit %d, stderr %s; want usage error naming the flag", bad, code, errOut)
		}
	}
}
