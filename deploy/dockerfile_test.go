package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dockerfile is what the tests read from ../Dockerfile.
type dockerfile struct {
	from       []string // images of the FROM lines, in order
	stages     []string // their AS names ("" when unnamed)
	user       string   // the last USER
	entrypoint []string // the exec form of ENTRYPOINT
	runs       []string // RUN lines
	copies     []string // COPY lines
}

func parseDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var df dockerfile
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			t.Fatalf("Dockerfile:%d: keep instructions on one line so the test reads them", n)
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			img, as, _ := strings.Cut(rest, " ")
			df.from = append(df.from, img)
			df.stages = append(df.stages, strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(as), "AS ")))
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &df.entrypoint); err != nil {
				t.Fatalf("Dockerfile:%d: ENTRYPOINT must be the exec form (JSON array): %v", n, err)
			}
		case "RUN":
			df.runs = append(df.runs, rest)
		case "COPY":
			df.copies = append(df.copies, rest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return df
}

func TestDockerfile(t *testing.T) {
	df := parseDockerfile(t)
	if len(df.from) != 2 || !strings.HasPrefix(df.from[0], "golang:1.26") || df.stages[0] == "" ||
		df.from[1] != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("FROM %q: want a golang:1.26 builder stage, then gcr.io/distroless/static-debian12:nonroot", df.from)
	}
	if df.user != "nonroot:nonroot" && df.user != "nonroot" && df.user != "65532:65532" {
		t.Errorf("USER %q: want nonroot", df.user)
	}
	if len(df.entrypoint) != 1 || df.entrypoint[0] != "/paygw" {
		t.Errorf("ENTRYPOINT %q: want [\"/paygw\"]", df.entrypoint)
	}
	want := "--from=" + df.stages[0] + " /out/paygw /paygw"
	found := false
	for _, c := range df.copies {
		found = found || c == want
	}
	if !found {
		t.Errorf("COPY %s missing: %q", want, df.copies)
	}
	if build := goBuildArgs(t, df); build == nil {
		t.Error("no RUN line with CGO_ENABLED=0 go build")
	}
}

// goBuildArgs returns the environment and arguments of the Dockerfile's go build RUN line.
func goBuildArgs(t *testing.T, df dockerfile) (run []string) {
	t.Helper()
	for _, r := range df.runs {
		if strings.Contains(r, "go build") {
			return shellFields(r)
		}
	}
	return nil
}

// TestImageBinary builds the binary exactly as the Dockerfile's RUN line does (output path
// aside), checks it is static — no program interpreter, no shared libraries — so it runs on
// distroless/static, and runs --help.
func TestImageBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	df := parseDockerfile(t)
	fields := goBuildArgs(t, df)
	var env, args []string
	i := 0
	for ; i < len(fields) && strings.Contains(fields[i], "="); i++ {
		env = append(env, fields[i])
	}
	if i+1 >= len(fields) || fields[i] != "go" || fields[i+1] != "build" {
		t.Fatalf("RUN %q: want ENV=… go build …", strings.Join(fields, " "))
	}
	if !containsStr(env, "CGO_ENABLED=0") || !containsStr(fields, "-trimpath") {
		t.Errorf("RUN %q: want CGO_ENABLED=0 and -trimpath", strings.Join(fields, " "))
	}
	out := filepath.Join(t.TempDir(), "paygw")
	for j := i + 1; j < len(fields); j++ {
		f := fields[j]
		if f == "-o" && j+1 < len(fields) {
			args = append(args, "-o", out)
			j++
			continue
		}
		args = append(args, f)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the image's binary: %v", err)
	}
	cmd := exec.Command(gobin, args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	ef, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary has a program interpreter (PT_INTERP): it is dynamically linked")
		}
	}
	if libs, err := ef.ImportedLibraries(); err != nil || len(libs) != 0 {
		t.Errorf("binary needs shared libraries %q (%v)", libs, err)
	}
	help, err := exec.Command(out, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "paygw") || !strings.Contains(string(help), "cron") {
		t.Errorf("paygw --help: %v\n%s", err, help)
	}
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// shellFields splits a shell command line into words as sh does for simple quoting: single and
// double quotes group and are removed; no variables, escapes or globbing (the RUN line has none).
func shellFields(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
