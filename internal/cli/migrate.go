package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
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
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "down [N]",
		Short: "Roll back the N most recent migrations (default 1)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 1
			if len(args) == 1 {
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 {
					return Usagef("migrate down: N must be a positive integer, got %q", args[0])
				}
				n = v
			}
			s, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			vs, err := s.MigrateDown(cmd.Context(), n)
			if err != nil {
				return err
			}
			app.Log.Info().Ints64("rolled_back", vs).Msg("migrate down")
			return nil
		},
	})
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
