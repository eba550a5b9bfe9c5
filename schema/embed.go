// Package schema embeds paygw's SQL migrations: one folder per dialect (postgres, sqlite),
// goose-annotated files with the same version numbers in both.
package schema

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
