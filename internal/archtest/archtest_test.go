// Package archtest keeps the dependency rules of CONVENTIONS.md true, with `go list -deps`.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
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
		{"internal/httpapi", []string{"internal/cli"}, "only cli wires"},
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
	// cmd/paygw is a few lines: it imports only cli from this module.
	for _, imp := range pkgs["cmd/paygw"].Imports {
		if strings.HasPrefix(imp, mod) && imp != mod+"internal/cli" {
			t.Errorf("cmd/paygw imports %s", imp)
		}
	}
}
