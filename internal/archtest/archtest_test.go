// Package archtest keeps the dependency rules of CONVENTIONS.md true, with `go list -deps`.
package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

const mod = "github.com/paygw/paygw/"

type pkg struct {
	ImportPath string
	Deps       []string
	Imports    []string
}

func listAll(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps=false", "-json", "../../...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, mod)] = p
	}
	return pkgs
}

func internalDeps(p pkg) []string {
	var out []string
	for _, d := range p.Deps {
		if strings.HasPrefix(d, mod) {
			out = append(out, strings.TrimPrefix(d, mod))
		}
	}
	return out
}

func has(deps []string, name string) bool {
	for _, d := range deps {
		if d == name {
			return true
		}
	}
	return false
}

func TestDependencyDirection(t *testing.T) {
	pkgs := listAll(t)
	if len(pkgs) < 10 {
		t.Fatalf("only %d packages listed", len(pkgs))
	}
	if !has(internalDeps(pkgs["internal/gateway"]), "internal/store") {
		t.Fatal("go list gave no dependency lists: the test would check nothing")
	}
	rules := []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{"internal/money", []string{"internal/paygw", "internal/store", "internal/config"}, "money is the bottom"},
		{"internal/paygw", []string{"internal/store", "internal/config", "internal/channel", "internal/ledger"}, "the domain does no I/O"},
		{"internal/fee", []string{"internal/store"}, "pure rules"},
		{"internal/ledger", []string{"internal/store"}, "pure rules"},
		{"internal/statement", []string{"internal/store", "internal/reconcile"}, "format packages never touch storage"},
		{"internal/report", []string{"internal/store", "internal/settle", "internal/reconcile"}, "format packages never touch storage"},
		{"internal/store", []string{"internal/gateway", "internal/notify", "internal/reconcile", "internal/settle", "internal/httpapi", "internal/cli"}, "store is below the use cases"},
		{"internal/store", []string{"internal/api", "internal/ledger", "internal/outcome"}, "store stores, use cases decide: no wire types, journal rules or outcome composition in store"},
		{"internal/outcome", []string{"internal/gateway", "internal/notify", "internal/reconcile", "internal/settle", "internal/httpapi", "internal/cli"}, "the outcome use case is shared by gateway and reconcile, below both"},
		{"internal/gateway", []string{"internal/notify", "internal/reconcile", "internal/settle", "internal/httpapi", "internal/cli"}, "use cases never import each other"},
		{"internal/notify", []string{"internal/gateway", "internal/reconcile", "internal/settle", "internal/httpapi", "internal/cli"}, "use cases never import each other"},
		{"internal/reconcile", []string{"internal/gateway", "internal/notify", "internal/settle", "internal/httpapi", "internal/cli"}, "use cases never import each other"},
		{"internal/settle", []string{"internal/gateway", "internal/notify", "internal/reconcile", "internal/httpapi", "internal/cli"}, "use cases never import each other"},
		{"internal/merchant", []string{"internal/gateway", "internal/notify", "internal/reconcile", "internal/settle", "internal/httpapi", "internal/cli"}, "use cases never import each other"},
		{"internal/httpapi", []string{"internal/cli"}, "only cli wires"},
		{"internal/api/cliout", []string{"internal/store", "internal/cli"}, "--json shapes are wire types"},
		{"jobs", []string{"internal/cli"}, "cli imports jobs"},
	}
	for _, r := range rules {
		p, ok := pkgs[r.pkg]
		if !ok {
			t.Errorf("package %s not found", r.pkg)
			continue
		}
		deps := internalDeps(p)
		for _, f := range r.forbidden {
			if has(deps, f) {
				t.Errorf("%s depends on %s (%s)", r.pkg, f, r.why)
			}
		}
	}
	// Only cli (and cmd/paygw through it) reads flags: nothing else imports cobra or pflag.
	for name, p := range pkgs {
		if name == "internal/cli" || name == "cmd/paygw" {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/spf13/") {
				t.Errorf("%s imports %s: only internal/cli reads flags", name, imp)
			}
		}
	}
	// The --json shapes are wire types: the CLI fills them, the demo reads them; they depend on
	// nothing of this module. Use-case packages never reach up into the CLI.
	for _, imp := range internalDeps(pkgs["internal/api/cliout"]) {
		t.Errorf("internal/api/cliout depends on %s: --json shapes are plain types", imp)
	}
	for _, uc := range []string{"internal/gateway", "internal/notify", "internal/reconcile", "internal/settle", "internal/merchant", "internal/demo"} {
		for _, d := range internalDeps(pkgs[uc]) {
			if d == "internal/cli" || strings.HasPrefix(d, "internal/cli/") {
				t.Errorf("%s depends on %s: the CLI wires use cases, not the reverse", uc, d)
			}
		}
	}
	// cmd/paygw is a few lines: it imports only cli from this module.
	for _, imp := range pkgs["cmd/paygw"].Imports {
		if strings.HasPrefix(imp, mod) && imp != mod+"internal/cli" {
			t.Errorf("cmd/paygw imports %s", imp)
		}
	}
}

// TestRowsStayInStore: only store (and the test-only storetest) speaks database/sql and sqlx;
// the domain and the use cases get domain types, never rows (CONVENTIONS.md "What the first
// review taught").
func TestRowsStayInStore(t *testing.T) {
	pkgs := listAll(t)
	for _, name := range []string{"internal/paygw", "internal/reconcile", "internal/settle", "internal/gateway",
		"internal/notify", "internal/report", "internal/statement", "internal/ledger", "internal/fee", "internal/money"} {
		p, ok := pkgs[name]
		if !ok {
			t.Errorf("package %s not found", name)
			continue
		}
		for _, imp := range p.Imports {
			if imp == "database/sql" || imp == "github.com/jmoiron/sqlx" || strings.HasPrefix(imp, "github.com/jackc/") {
				t.Errorf("%s imports %s: rows stay in store; take domain types from it", name, imp)
			}
		}
	}
}

// storeRowTypes are store's exported structs that still carry db tags or sql.Null* fields: read
// models not yet given a domain type. The list only shrinks; a new exported row type fails
// TestStoreExportsNoRows.
var storeRowTypes = []string{
	"Balance", "DailyActivity", "HeldBack", "Lease", "MerchantAudit", "NotificationAttempt", "OpenDiscrepancy",
}

// TestStoreExportsNoRows: the structs store exports carry no `db:` tags and no sql.Null* fields
// (the back-office entities are paygw.ReconRun, ReconItem, SettleBatch, SettleItem, SettleHold,
// ReconAdjustment, JobRun; their rows are private to store).
func TestStoreExportsNoRows(t *testing.T) {
	files, err := filepath.Glob("../store/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("store sources: %v %v", files, err)
	}
	fset := token.NewFileSet()
	var got []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				tagged := fl.Tag != nil && reflect.StructTag(strings.Trim(fl.Tag.Value, "`")).Get("db") != ""
				if tagged || isSQLNull(fl.Type) {
					got = append(got, ts.Name.Name)
					return true
				}
			}
			return true
		})
	}
	sort.Strings(got)
	allowed := map[string]bool{}
	for _, n := range storeRowTypes {
		allowed[n] = true
	}
	for _, n := range got {
		if !allowed[n] {
			t.Errorf("store exports %s with db tags or sql.Null* fields: keep the row private and return a domain type", n)
		}
		delete(allowed, n)
	}
	for n := range allowed {
		t.Errorf("store.%s no longer carries db tags: remove it from storeRowTypes", n)
	}
}

func isSQLNull(e ast.Expr) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "sql" && strings.HasPrefix(sel.Sel.Name, "Null")
}
