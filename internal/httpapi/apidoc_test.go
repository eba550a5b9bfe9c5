package httpapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/paygw/paygw/internal/paygw"
)

const apiDoc = "../../docs/api.md"

// plannedCodes may be documented in docs/api.md before the code that answers them is merged
// (merchant_suspended was, until issue 10's settle work landed). Once a code exists in
// internal/paygw it is checked like every other; delete it here then.
var plannedCodes = map[string]bool{}

// docSection returns the lines of docs/api.md under the heading title, up to the next heading
// of the same or a higher level.
func docSection(t *testing.T, title string) []string {
	t.Helper()
	b, err := os.ReadFile(apiDoc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	level := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") {
			hashes := len(line) - len(strings.TrimLeft(line, "#"))
			if level > 0 && hashes <= level {
				break
			}
			if strings.TrimSpace(line[hashes:]) == title {
				level = hashes
				continue
			}
		}
		if level > 0 {
			out = append(out, line)
		}
	}
	if level == 0 {
		t.Fatalf("%s has no heading %q", apiDoc, title)
	}
	return out
}

// codeConsts lists the paygw.Code constants declared in internal/paygw (parsed, so that a code
// added by anyone is seen without a list to keep up to date).
func codeConsts(t *testing.T) []paygw.Code {
	t.Helper()
	files, err := filepath.Glob("../paygw/*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []paygw.Code
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						out = append(out, paygw.Code(s))
					}
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no paygw.Code constants found in internal/paygw")
	}
	return out
}

// The error-code table of docs/api.md is the code table: every code the code has is documented
// with its real HTTP status, and every documented code exists.
func TestAPIDocErrorCodes(t *testing.T) {
	row := regexp.MustCompile("^\\|\\s*`([a-z_]+)`\\s*\\|\\s*(\\d{3})\\s*\\|")
	documented := map[string]int{}
	for _, line := range docSection(t, "Errors") {
		if m := row.FindStringSubmatch(line); m != nil {
			documented[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	if len(documented) == 0 {
		t.Fatalf("%s: no error-code table rows (| `code` | status | meaning |) under ### Errors", apiDoc)
	}
	inCode := map[string]bool{}
	for _, c := range codeConsts(t) {
		inCode[string(c)] = true
		want := Status(c)
		got, ok := documented[string(c)]
		switch {
		case !ok:
			t.Errorf("error code %s (HTTP %d) is missing from %s: add a row to the table under \"### Errors\":\n| `%s` | %d | <what it means to a merchant> |",
				c, want, apiDoc, c, want)
		case got != want:
			t.Errorf("%s documents %s as %d, the code answers %d: change its row under \"### Errors\" to | `%s` | %d | … |",
				apiDoc, c, got, want, c, want)
		}
	}
	for c := range documented {
		if !inCode[c] && !plannedCodes[c] {
			t.Errorf("%s documents error code %s, which internal/paygw does not have: remove its row under \"### Errors\" (or add the code)", apiDoc, c)
		}
	}
}

// registeredRoutes lists the "METHOD /path" patterns in internal/httpapi's source: every string
// literal of that shape, whether passed to Handle/HandleFunc directly or kept in a route table,
// so that the router's own list is read without a copy to keep up to date.
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	pat := regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /[A-Za-z0-9_/{}.-]*$`)
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, _ := strconv.Unquote(lit.Value); pat.MatchString(s) {
					seen[s] = true
				}
			}
			return true
		})
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	if len(out) < 10 {
		t.Fatalf("found only %d route patterns (%v) in internal/httpapi: if routes are no longer string literals there, update registeredRoutes", len(out), out)
	}
	return out
}

// The endpoint table of docs/api.md is the router: each documented route reaches the handler
// registered for exactly that pattern in the real mux (not the catch-all), and every pattern the
// router registers is documented.
func TestAPIDocRoutes(t *testing.T) {
	route := regexp.MustCompile("`((?:GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) /[^`?]*)(?:\\?[^`]*)?`")
	documented := map[string]bool{}
	for _, line := range docSection(t, "Endpoints") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(strings.TrimPrefix(line, "|"), "|", 2)[0] // the method-and-path column
		for _, m := range route.FindAllStringSubmatch(first, -1) {
			documented[m[1]] = true
		}
	}
	if len(documented) == 0 {
		t.Fatalf("%s: no routes in the table under ### Endpoints", apiDoc)
	}
	srv := New(nil, nil, Options{})
	placeholder := regexp.MustCompile(`\{[a-z_]+\}`)
	for r := range documented {
		method, path, _ := strings.Cut(r, " ")
		req := httptest.NewRequest(method, placeholder.ReplaceAllString(path, "x_1"), nil)
		if _, pattern := srv.mux.Handler(req); pattern != r {
			t.Errorf("%s documents %s, but the router serves it with %q: fix or remove its row under \"### Endpoints\"", apiDoc, r, pattern)
		}
	}
	for _, r := range registeredRoutes(t) {
		if !documented[r] {
			t.Errorf("route %s is registered in internal/httpapi but missing from %s: add a row to the table under \"### Endpoints\":\n| `%s` | <what it does> |", r, apiDoc, r)
		}
	}
}
