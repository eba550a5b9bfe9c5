package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/paygw/paygw/internal/paygw"
)

// runner starts paygw subcommands of the same binary with the demo's database and config.
// Their logs (stderr) go to files under logs; their stdout is returned (one-shot commands) or
// appended to the log (servers).
type runner struct {
	exe  string
	env  []string
	db   string
	cfg  string
	logs string
}

// base is the global flags every subcommand gets: the demo's own database and config, JSON
// logs, whatever PAYGW_DB or PAYGW_CONFIG the caller's environment holds.
func (r *runner) base() []string {
	return []string{"--db", r.db, "--config", r.cfg, "--log-format", "json"}
}

func (r *runner) command(ctx context.Context, args, env []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.exe, append(r.base(), args...)...)
	cmd.Env = append(append(os.Environ(), r.env...), env...)
	return cmd
}

// header is the command line as written at the top of its log, account numbers masked.
func header(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if i > 0 && args[i-1] == "--bank-account" {
			out[i] = paygw.MaskAccount(a)
		}
	}
	return "# paygw " + strings.Join(out, " ") + "\n"
}

func (r *runner) logFile(name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(r.logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// run runs a one-shot command and returns its stdout. A non-zero exit is an error that names
// the command line, the exit code and the last lines of its log.
func (r *runner) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	lf, err := r.logFile(name)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	var out bytes.Buffer
	cmd := r.command(ctx, args, nil)
	cmd.Stdout, cmd.Stderr = &out, lf
	_, _ = io.WriteString(lf, header(args))
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("paygw %s: %w\n%s", strings.Join(args, " "), err, tail(lf.Name(), 8))
	}
	return out.Bytes(), nil
}

// proc is a server subprocess (sandbox, serve).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error // set when done is closed
}

// start starts a long-running command with extra environment (secrets stay off the command
// line); it runs until stop. No context kills it: stop ends it gracefully so that it drains.
func (r *runner) start(name string, env []string, args ...string) (*proc, error) {
	lf, err := r.logFile(name)
	if err != nil {
		return nil, err
	}
	cmd := r.command(context.Background(), args, env)
	cmd.Stdout, cmd.Stderr = lf, lf
	_, _ = io.WriteString(lf, header(args))
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start paygw %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: lf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, with its error.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM and waits up to grace for the process to end, then kills it. It returns
// an error when the process had to be killed or ended with a failure.
func (p *proc) stop(grace time.Duration) error {
	if done, err := p.exited(); done {
		if err != nil {
			return fmt.Errorf("paygw %s had exited: %w", p.name, err)
		}
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal paygw %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("paygw %s: %w\n%s", p.name, p.err, tail(p.log, 8))
		}
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("paygw %s did not stop within %s after SIGTERM; killed", p.name, grace)
	}
}

// waitHTTP polls url until it answers 200, the process exits, or within passes.
func waitHTTP(ctx context.Context, p *proc, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	hc := &http.Client{Timeout: time.Second}
	for {
		if done, err := p.exited(); done {
			return fmt.Errorf("paygw %s exited before it was ready (%v)\n%s", p.name, err, tail(p.log, 12))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("paygw %s not ready at %s within %s\n%s", p.name, url, within, tail(p.log, 12))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of a log file, indented, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + path + ":\n    " + strings.Join(lines, "\n    ")
}
