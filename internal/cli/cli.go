// Package cli is paygw's command line: the cobra tree, flags and their PAYGW_* environment
// twins, logger setup, the wiring of stores, channels and services, and exit codes. It is the
// only package that reads flags, the environment or config files, and decides how a process ends.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/paygw/paygw/internal/config"
	"github.com/paygw/paygw/internal/paygw"
	"github.com/paygw/paygw/internal/store"
)

// Exit codes of API.md.
const (
	ExitOK          = 0
	ExitFailed      = 1
	ExitUsage       = 2
	ExitDiscrepancy = 3
)

// UsageError is bad usage or bad input: exit code 2. Its message names the flag, file or line.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError.
func Usagef(format string, args ...any) error { return &UsageError{Err: fmt.Errorf(format, args...)} }

// ExitError ends the process with Code after its message is logged (e.g. 3 for discrepancies).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// runError marks an error returned by a command's RunE, as opposed to cobra's own parse errors.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// App is what every command shares: global options and lazily built dependencies.
type App struct {
	DB        string
	Config    string
	LogLevel  string
	LogFormat string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time
	Log    zerolog.Logger
	// Keys, when set, seals and opens secrets instead of PAYGW_SECRET_KEY (tests, in-process jobs).
	Keys *store.Keyring

	cmdPath string // the command being run: "paygw settle mark-paid"

	mu        sync.Mutex
	cfg       *config.Config
	store     *store.Store
	storeOpts store.Options // what the command asked the store to be opened with
}

func init() { zerolog.TimeFieldFormat = time.RFC3339Nano }

// registry of command constructors; each command file adds itself in init so that files owned
// by different use cases never edit a shared list.
var registry []func(*App) *cobra.Command

func register(f func(*App) *cobra.Command) { registry = append(registry, f) }

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	app := &App{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv, Now: time.Now}
	root := NewRoot(app)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	defer app.close()
	return app.exitCodeOf(cmd, err)
}

func (a *App) exitCode(err error) int { return a.exitCodeOf(nil, err) }

// helpHint points to the help of the command that was run: `paygw settle --help`.
func helpHint(cmd *cobra.Command) string {
	path := "paygw"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	return fmt.Sprintf("Run '%s --help' for usage.", path)
}

// exitCodeOf reports err (of cmd, when known) and returns the process's exit code.
func (a *App) exitCodeOf(cmd *cobra.Command, err error) int {
	if err == nil {
		return ExitOK
	}
	var re *runError
	if !errors.As(err, &re) {
		// cobra's own errors: unknown command or flag, wrong argument count.
		fmt.Fprintf(a.Stderr, "paygw: %v\n%s\n", err, helpHint(cmd))
		return ExitUsage
	}
	err = re.err
	if errors.Is(err, store.ErrNotFound) {
		// The operator named an object that does not exist: say which, not what the driver said.
		err = &UsageError{Err: errors.New(notFoundMessage(err))}
	}
	var ue *UsageError
	var de *store.DSNError
	var ke *config.KeyError
	var nm *store.NotMigratedError
	var km *store.KeyMismatchError
	var ee *ExitError
	switch {
	case errors.As(err, &ee):
		a.Log.Error().Err(ee.Err).Int("exit_code", ee.Code).Msg("done with findings")
		return ee.Code
	case errors.As(err, &ue):
		fmt.Fprintf(a.Stderr, "paygw: %v\n%s\n", err, helpHint(cmd))
		return ExitUsage
	case errors.As(err, &de), errors.As(err, &ke), errors.As(err, &nm), errors.As(err, &km), errors.Is(err, store.ErrNoSecretKey):
		fmt.Fprintf(a.Stderr, "paygw: %v\n", err)
		return ExitUsage
	case errors.Is(err, context.Canceled):
		a.Log.Warn().Msg("interrupted")
		return ExitFailed
	default:
		a.Log.Error().Err(err).Msg("failed")
		return ExitFailed
	}
}

// NewRoot builds the whole command tree (also used by tests that check manifests' command lines).
func NewRoot(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:           "paygw",
		Short:         "Payment gateway and clearing/settlement batch processor",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			app.cmdPath = cmd.CommandPath()
			if err := applyEnv(cmd, app.getenv); err != nil {
				return err
			}
			if err := app.setupLogger(cmd); err != nil {
				return err
			}
			// A --config that does not exist or does not parse is refused by every command,
			// before anything runs: running on the defaults instead hides the typo.
			if app.Config != "" {
				if _, err := app.Cfg(); err != nil {
					return err
				}
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&app.DB, "db", "sqlite:paygw.db", "database DSN: sqlite:PATH or postgres://… (env PAYGW_DB)")
	pf.StringVar(&app.Config, "config", "", "config file (YAML; env PAYGW_CONFIG)")
	pf.StringVar(&app.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	pf.StringVar(&app.LogFormat, "log-format", "", "log format: json or console (default json unless stderr is a terminal)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return err })
	cmds := make([]*cobra.Command, 0, len(registry))
	for _, f := range registry {
		cmds = append(cmds, f(app))
	}
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name() < cmds[j].Name() })
	root.AddCommand(cmds...)
	wrapRunE(root)
	return root
}

// wrapRunE marks errors from commands' RunE so exitCode can tell them from parse errors.
func wrapRunE(c *cobra.Command) {
	if c.RunE != nil {
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return &runError{err: err}
			}
			return nil
		}
	}
	if c.PersistentPreRunE != nil {
		pre := c.PersistentPreRunE
		c.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
			if err := pre(cmd, args); err != nil {
				return &runError{err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapRunE(sub)
	}
}

func (a *App) getenv(k string) string {
	if a.Getenv == nil {
		return os.Getenv(k)
	}
	return a.Getenv(k)
}

// EnvName is the environment twin of a flag: --fee-rate-bps is PAYGW_FEE_RATE_BPS.
func EnvName(flag string) string {
	return "PAYGW_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag the command line did not set from its PAYGW_* twin.
func applyEnv(cmd *cobra.Command, getenv func(string) string) error {
	var err error
	visit := func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = Usagef("%s=%q (flag --%s): %v", EnvName(f.Name), v, f.Name, e)
			}
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return err
}

func (a *App) setupLogger(cmd *cobra.Command) error {
	lvl, err := zerolog.ParseLevel(a.LogLevel)
	if err != nil || a.LogLevel == "" {
		return Usagef("--log-level %q: want debug, info, warn or error", a.LogLevel)
	}
	var w io.Writer = a.Stderr
	format := a.LogFormat
	if format == "" {
		format = "json"
		if a.stderrIsTerminal() {
			format = "console"
		}
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: a.Stderr, TimeFormat: "15:04:05"}
	default:
		return Usagef("--log-format %q: want json or console", a.LogFormat)
	}
	a.Log = zerolog.New(w).Level(lvl).With().Timestamp().Str("cmd", cmd.CommandPath()).
		Str("job_id", paygw.NewID("job")).Logger()
	return nil
}

// Cfg loads the config file once.
func (a *App) Cfg() (*config.Config, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg == nil {
		c, err := config.Load(a.Config)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Usagef("--config %s: no such file", a.Config)
		}
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		a.cfg = c
	}
	return a.cfg, nil
}

// Store opens the database once. The DSN is checked before anything else is opened.
func (a *App) Store(ctx context.Context) (*store.Store, error) {
	return a.StoreWith(ctx, store.Options{})
}

// keyCommands seal or open merchant secrets or bank accounts (signing notifications, checking
// request signatures, payout files): they refuse to start without PAYGW_SECRET_KEY.
var keyCommands = map[string]bool{"serve": true, "merchant": true, "settle": true, "cron": true, "replay-notify": true}

// needsKeys reports whether the running command seals or opens secrets.
func (a *App) needsKeys() bool {
	f := strings.Fields(a.cmdPath)
	return len(f) > 1 && keyCommands[f[1]]
}

// keyring is a.Keys, else PAYGW_SECRET_KEY; nil when neither is set and the command needs none.
func (a *App) keyring() (*store.Keyring, error) {
	if a.Keys != nil {
		return a.Keys, nil
	}
	v := strings.TrimSpace(a.getenv("PAYGW_SECRET_KEY"))
	if v == "" {
		if a.needsKeys() {
			return nil, Usagef("PAYGW_SECRET_KEY is not set: `%s` seals and opens merchant secrets and bank accounts with it. "+
				"Generate a key once with `openssl rand -hex 32`, keep it in your secret store, and give every paygw process "+
				"on this database the same value (there is no built-in key)", a.cmdPath)
		}
		return nil, nil
	}
	k, err := store.ParseKey(v)
	if err != nil {
		return nil, &UsageError{Err: err}
	}
	return k, nil
}

// StoreWith opens the database once with options (pool size, statement timeout). A command
// chooses its options in one place: asking again with the same options returns the open store,
// asking with different ones is an error (the store cannot honour them, and handing back the
// first one would run the command silently without them). Only `migrate up` creates a SQLite
// file; every other command first checks that the schema is current (`database at … is not
// migrated`, exit 2) and, when it handles secrets, that PAYGW_SECRET_KEY opens the ones
// already stored.
func (a *App) StoreWith(ctx context.Context, opts store.Options) (*store.Store, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.store != nil {
		if opts != a.storeOpts {
			return nil, fmt.Errorf("%s: the database is already open with %+v, not %+v: open it once per command, with its options",
				a.cmdPath, a.storeOpts, opts)
		}
		return a.store, nil
	}
	asked := opts
	if _, err := store.ParseDSN(a.DB); err != nil {
		return nil, err
	}
	keys, err := a.keyring()
	if err != nil {
		return nil, err
	}
	opts.Keys = keys
	opts.MustExist = a.cmdPath != "paygw migrate up"
	s, err := store.Open(ctx, a.DB, opts)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(a.cmdPath, "paygw migrate") {
		if err := s.CheckSchema(ctx); err != nil {
			s.Close()
			return nil, err
		}
		if a.needsKeys() {
			if err := s.CheckKeys(ctx); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	a.store, a.storeOpts = s, asked
	return s, nil
}

// OpenStore opens a second, independent store on --db with opts (checked like StoreWith's); the
// caller closes it. serve gives notification delivery its own PostgreSQL pool with it.
func (a *App) OpenStore(ctx context.Context, opts store.Options) (*store.Store, error) {
	keys, err := a.keyring()
	if err != nil {
		return nil, err
	}
	opts.Keys, opts.MustExist = keys, true
	s, err := store.Open(ctx, a.DB, opts)
	if err != nil {
		return nil, err
	}
	if err := s.CheckSchema(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// RedactedDB is --db without a password, for logs and messages.
func (a *App) RedactedDB() string {
	d, err := store.ParseDSN(a.DB)
	if err != nil {
		return "(invalid --db)"
	}
	return d.String()
}

// CheckDSN validates --db without opening it (bad usage is exit 2 before any database is opened).
func (a *App) CheckDSN() error {
	_, err := store.ParseDSN(a.DB)
	return err
}

func (a *App) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.store != nil {
		a.store.Close()
		a.store = nil
	}
}

// Date resolves a --date flag: empty means yesterday in the settlement timezone.
func (a *App) Date(flag string, cfg *config.Config) (string, error) {
	if flag == "" {
		return paygw.Yesterday(a.Now(), cfg.Location()), nil
	}
	if _, err := paygw.ParseDate(flag); err != nil {
		return "", Usagef("--date: %v", err)
	}
	return flag, nil
}

// stderrIsTerminal reports whether logs and progress go to a terminal.
func (a *App) stderrIsTerminal() bool { return IsTerminal(a.Stderr) }

// IsTerminal reports whether w is a terminal (progress bars, tables).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// idNouns names the object behind each id prefix, in the operator's words.
var idNouns = map[string]string{
	"mch": "merchant", "pay": "payment", "ref": "refund", "agr": "agreement", "stb": "batch",
	"rcn": "reconciliation run", "run": "job run", "evt": "notification", "jnl": "journal",
}

var (
	idPattern  = regexp.MustCompile(`\b([a-z]{3})_[A-Za-z0-9]+\b`)
	locPattern = regexp.MustCompile(`^[^\s:]+:\d+: `) // file:line: of a line in an input file
)

// notFoundMessage rewrites the lines of err that end in a store not-found error into
// "<file:line: >batch stb_X not found": the object is the last id named before the store's text.
func notFoundMessage(err error) string {
	lines := strings.Split(err.Error(), "\n")
	nf := store.ErrNotFound.Error()
	for i, line := range lines {
		idx := strings.Index(line, nf)
		if idx < 0 {
			continue
		}
		head := line[:idx]
		loc := locPattern.FindString(head)
		what := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(head, loc)), ":")
		for _, m := range idPattern.FindAllStringSubmatch(head, -1) {
			if noun, ok := idNouns[m[1]]; ok {
				what = noun + " " + m[0]
			}
		}
		if what == "" {
			what = "object"
		}
		lines[i] = loc + what + " not found"
	}
	return strings.Join(lines, "\n")
}
