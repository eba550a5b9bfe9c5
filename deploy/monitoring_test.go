package deploy

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// ruleFile is the Prometheus rule-file format of monitoring/alerts.yaml, read strictly.
type ruleFile struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type dashboard struct {
	Title  string `json:"title"`
	UID    string `json:"uid"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// metricKind is what the code declares a metric as.
type metricKind string

// definedMetrics finds every paygw_ metric the code declares: the Name of a prometheus
// CounterOpts/GaugeOpts/HistogramOpts/SummaryOpts literal, or the first argument of NewDesc.
func definedMetrics(t *testing.T) map[string]metricKind {
	t.Helper()
	out := map[string]metricKind{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("../internal", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		descs := map[string]string{} // variable → metric name of a NewDesc, in this file
		var histDescs []string       // variables a const histogram is made from
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				sel, ok := n.Type.(*ast.SelectorExpr)
				if !ok || !strings.HasSuffix(sel.Sel.Name, "Opts") {
					return true
				}
				kind := metricKind(strings.ToLower(strings.TrimSuffix(sel.Sel.Name, "Opts")))
				for _, e := range n.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
						if name, ok := stringLit(kv.Value); ok && strings.HasPrefix(name, "paygw_") {
							out[name] = kind
						}
					}
				}
			case *ast.ValueSpec:
				// descVar = prometheus.NewDesc("paygw_…", …): remembered, so that a const
				// histogram made from it below is known as a histogram.
				for i, v := range n.Values {
					if call, ok := v.(*ast.CallExpr); ok && i < len(n.Names) {
						if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(call.Args) > 0 {
							if name, ok := stringLit(call.Args[0]); ok {
								descs[n.Names[i].Name] = name
							}
						}
					}
				}
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok || len(n.Args) == 0 {
					return true
				}
				if sel.Sel.Name == "NewDesc" {
					if name, ok := stringLit(n.Args[0]); ok && strings.HasPrefix(name, "paygw_") && out[name] == "" {
						out[name] = "desc"
					}
				}
				if sel.Sel.Name == "MustNewConstHistogram" || sel.Sel.Name == "NewConstHistogram" {
					if id, ok := n.Args[0].(*ast.Ident); ok {
						histDescs = append(histDescs, id.Name)
					}
				}
			}
			return true
		})
		for _, v := range histDescs {
			if name := descs[v]; strings.HasPrefix(name, "paygw_") {
				out[name] = "histogram"
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("found only %d metric definitions in ../internal: the scan is broken", len(out))
	}
	return out
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

var (
	metricRe = regexp.MustCompile(`\b(paygw_[a-z0-9_]+)`)
	// Metrics that client_golang's process, Go and database/sql collectors export (registered by
	// serve; the last through internal/dbmetrics).
	runtimeMetrics = map[string]bool{"process_resident_memory_bytes": true, "go_memstats_heap_inuse_bytes": true,
		"go_sql_wait_duration_seconds_total": true, "go_sql_in_use_connections": true}
	runtimeRe  = regexp.MustCompile(`\b((?:process|go)_[a-z0-9_]+)\b`)
	rangeFnRe  = regexp.MustCompile(`\b(rate|increase|irate)\(\s*([a-z_:][a-z0-9_:]*)`)
	durationRe = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
)

// checkExpr reports the problems of one PromQL expression: metrics the code does not declare,
// histogram series of non-histograms, rate() over something that is not a counter, unbalanced
// brackets.
func checkExpr(where, expr string, defined map[string]metricKind) []string {
	var probs []string
	for _, m := range metricRe.FindAllString(expr, -1) {
		base := m
		for _, suf := range []string{"_bucket", "_count", "_sum"} {
			if b, ok := strings.CutSuffix(m, suf); ok {
				if k, ok := defined[b]; ok {
					if k != "histogram" && k != "summary" {
						probs = append(probs, where+": "+m+" is a series of a "+string(k)+", not a histogram")
					}
					base = b
				}
			}
		}
		if _, ok := defined[base]; !ok {
			probs = append(probs, where+": metric "+m+" is not defined in the code")
		}
	}
	for _, m := range runtimeRe.FindAllString(expr, -1) {
		if !runtimeMetrics[m] {
			probs = append(probs, where+": runtime metric "+m+" is not in the list of collector metrics serve registers")
		}
	}
	for _, sm := range rangeFnRe.FindAllStringSubmatch(expr, -1) {
		name := sm[2]
		ok := strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_bucket") || strings.HasSuffix(name, "_count") || strings.HasSuffix(name, "_sum")
		if k := defined[name]; k == "counter" {
			ok = true
		}
		if !ok {
			probs = append(probs, where+": "+sm[1]+"() over "+name+", which is not a counter")
		}
	}
	for _, pair := range [][2]string{{"(", ")"}, {"{", "}"}, {"[", "]"}} {
		if strings.Count(expr, pair[0]) != strings.Count(expr, pair[1]) {
			probs = append(probs, where+": unbalanced "+pair[0]+pair[1])
		}
	}
	return probs
}

func TestAlertRules(t *testing.T) {
	defined := definedMetrics(t)
	raw, err := os.ReadFile("monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.UnmarshalStrict(raw, &rf); err != nil {
		t.Fatalf("monitoring/alerts.yaml: %v", err)
	}
	seen := map[string]bool{}
	used := map[string]bool{}
	n := 0
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			n++
			where := "alert " + r.Alert
			if r.Alert == "" || seen[r.Alert] {
				t.Errorf("%s: missing or duplicate alert name", where)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", where, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs summary and description annotations", where)
			}
			if r.For != "" && !durationRe.MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
			}
			for _, p := range checkExpr(where, r.Expr, defined) {
				t.Error(p)
			}
			for _, m := range metricRe.FindAllString(r.Expr, -1) {
				used[strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count")] = true
			}
		}
	}
	// The list: error rate, p95 latency, notification backlog and oldest due age, breaker
	// open, job failures, reconciliation discrepancies.
	for _, m := range []string{"paygw_http_requests_total", "paygw_http_request_duration_seconds", "paygw_notify_queue_due",
		"paygw_notify_oldest_due_age_seconds", "paygw_channel_breaker_state", "paygw_job_last_run_failed",
		"paygw_recon_open_discrepancies"} {
		if !used[m] {
			t.Errorf("no alert uses %s", m)
		}
	}
	if n < 8 {
		t.Errorf("only %d rules", n)
	}
}

func TestDashboard(t *testing.T) {
	defined := definedMetrics(t)
	raw, err := os.ReadFile("monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("monitoring/dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard needs a title and a uid")
	}
	ids := map[int]bool{}
	shown := map[string]bool{}
	for _, p := range d.Panels {
		where := "panel " + strconv.Itoa(p.ID) + " " + strconv.Quote(p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if len(p.Targets) == 0 {
			t.Errorf("%s: no targets", where)
		}
		for _, tg := range p.Targets {
			for _, pr := range checkExpr(where, tg.Expr, defined) {
				t.Error(pr)
			}
			for _, m := range metricRe.FindAllString(tg.Expr, -1) {
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(m, suf); ok && defined[b] != "" {
						m = b
					}
				}
				shown[m] = true
			}
		}
	}
	// Every metric the code declares is on the dashboard, so a new metric is not forgotten.
	var missing []string
	for m := range defined {
		if !shown[m] && m != "paygw_gauge_read_errors_total" {
			missing = append(missing, m)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics declared in the code but on no dashboard panel: %s", strings.Join(missing, ", "))
	}
}

// TestCheckExprCatches keeps the checker honest: each broken expression must be reported.
func TestCheckExprCatches(t *testing.T) {
	defined := map[string]metricKind{"paygw_a_total": "counter", "paygw_h_seconds": "histogram", "paygw_g": "gauge"}
	for _, bad := range []string{
		"rate(paygw_nope_total[5m])",
		"histogram_quantile(0.9, rate(paygw_g_bucket[5m]))",
		"rate(paygw_g[5m])",
		"sum(rate(paygw_a_total[5m])",
		"process_nope_bytes",
	} {
		if len(checkExpr("t", bad, defined)) == 0 {
			t.Errorf("checkExpr(%q) found nothing", bad)
		}
	}
	if p := checkExpr("t", `histogram_quantile(0.9, sum by (le) (rate(paygw_h_seconds_bucket{route=~".*/v1/.*"}[5m]))) > rate(paygw_a_total[1m])`, defined); len(p) != 0 {
		t.Errorf("good expression reported: %v", p)
	}
}
