package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paygw/paygw/internal/store"
)

func init() { register(newMigrateCmd) }

func newMigrateCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply, roll back or list schema migrations (embedded SQL under schema/)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration (idempotent; safe when several pods run it at once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			vs, err := s.MigrateUp(cmd.Context())
			if err != nil {
				return err
			}
			app.Log.Info().Ints64("applied", vs).Str("db", app.RedactedDB()).Msg("migrate up")
			// A SQLite database created by an older paygw may be readable by others: tighten it.
			changed, err := store.PrivateFiles(app.DB)
			if len(changed) > 0 {
				app.Log.Warn().Strs("files", changed).Msg("made the SQLite database's files readable by their owner only (0600)")
			}
			return err
		},
	})
	cmd.AddCommand(newMigrateDownCmd(app))
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			st, err := s.MigrationStatus(cmd.Context())
			if err != nil {
				return err
			}
			for _, m := range st {
				state := "pending"
				if m.Applied {
					state = "applied"
				}
				fmt.Fprintf(app.Stdout, "%04d  %-8s %s\n", m.Version, state, m.Name)
			}
			return nil
		},
	})
	return cmd
}

type migrateDownOpts struct {
	N     int
	To    int64
	ToSet bool
	Yes   bool
}

// Validate checks the arguments: N or --to, not both.
func (o *migrateDownOpts) Validate(args []string) error {
	o.N = 1
	if len(args) == 1 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			return Usagef("migrate down: N must be a positive integer, got %q", args[0])
		}
		if o.ToSet {
			return Usagef("migrate down: give N or --to VERSION, not both")
		}
		o.N = v
	}
	if o.ToSet && o.To < 0 {
		return Usagef("migrate down: --to %d: want 0 or a migration version", o.To)
	}
	return nil
}

func newMigrateDownCmd(app *App) *cobra.Command {
	var o migrateDownOpts
	cmd := &cobra.Command{
		Use:   "down [N] [--yes] | down --to VERSION",
		Short: "Roll back the N most recent migrations (default 1), dropping their tables: needs --yes or --to",
		Long: `migrate down rolls back schema migrations; the tables they created are dropped with their rows.
It first prints what it will undo: each migration with the tables it drops (and their row
counts) and the columns it drops. It then does it only when confirmed: with --yes for
"the N most recent" (N defaults to 1), or with an exact --to VERSION (roll back everything
above VERSION; 0 is everything). Without either it exits 2 having changed nothing. A count
larger than the number of applied migrations is refused (exit 2) before anything is touched.
Take a backup first: a rolled-back table's rows are gone (docs/operations.md, "A failed migration").`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ToSet = cmd.Flags().Changed("to")
			if err := o.Validate(args); err != nil {
				return err
			}
			return runMigrateDown(cmd.Context(), app, o)
		},
	}
	cmd.Flags().BoolVar(&o.Yes, "yes", false, "confirm: roll back and drop the tables listed")
	cmd.Flags().Int64Var(&o.To, "to", 0, "roll back every migration above this version (the exact target; confirms by itself)")
	return cmd
}

func runMigrateDown(ctx context.Context, app *App, o migrateDownOpts) error {
	s, err := app.Store(ctx)
	if err != nil {
		return err
	}
	steps, err := s.PlanDown(ctx, o.N, o.To, o.ToSet)
	var refused *store.DownRefusedError
	if errors.As(err, &refused) {
		return &UsageError{Err: err}
	}
	if err != nil {
		return err
	}
	if len(steps) == 0 {
		fmt.Fprintf(app.Stdout, "nothing to roll back on %s\n", app.RedactedDB())
		return nil
	}
	fmt.Fprintf(app.Stdout, "migrate down on %s would roll back %d migration(s):\n", app.RedactedDB(), len(steps))
	for _, st := range steps {
		drops := "drops nothing"
		if len(st.Drops) > 0 {
			drops = "drops " + strings.Join(st.Drops, ", ")
		}
		if len(st.Rebuilt) > 0 {
			drops += "; rebuilds " + strings.Join(st.Rebuilt, ", ") + " (rows kept)"
		}
		_, name, _ := strings.Cut(strings.TrimSuffix(st.Name, ".sql"), "_")
		fmt.Fprintf(app.Stdout, "  %04d %-24s %s\n", st.Version, name, drops)
	}
	if !o.Yes && !o.ToSet {
		return Usagef("migrate down: not confirmed, nothing was rolled back: the tables listed above and their rows " +
			"would be dropped; take a backup, then rerun with --yes (or name the target: --to VERSION)")
	}
	var vs []int64
	if o.ToSet {
		vs, err = s.MigrateDownTo(ctx, o.To)
	} else {
		vs, err = s.MigrateDown(ctx, len(steps))
	}
	if len(vs) > 0 {
		app.Log.Info().Ints64("rolled_back", vs).Str("db", app.RedactedDB()).Msg("migrate down")
	}
	return err
}
