package store

import (
	"context"
	"database/sql"
)

// DialectSQL exposes a dialect's named methods to the external dialect table test.
type DialectSQL struct{ D Dialect }

func (x DialectSQL) Rebind(q string) string                { return x.D.rebind(q) }
func (x DialectSQL) ForUpdate() string                     { return x.D.forUpdate() }
func (x DialectSQL) WritableCTE() bool                     { return x.D.writableCTE() }
func (x DialectSQL) ShardsBalances() bool                  { return x.D.shardsBalances() }
func (x DialectSQL) BindsArrays() bool                     { return x.D.bindsArrays() }
func (x DialectSQL) StringAgg(expr, orderBy string) string { return x.D.stringAgg(expr, orderBy) }
func (x DialectSQL) TimesAsText() bool                     { return x.D.timesAsText() }
func (x DialectSQL) TimeCol(col string) string             { return x.D.timeCol(col) }
func (x DialectSQL) TableExistsQuery() string              { return x.D.tableExistsQuery() }
func (x DialectSQL) SchemaDir() string                     { return x.D.schemaDir() }
func (x DialectSQL) GooseDialect() string                  { return string(x.D.gooseDialect()) }
func (x DialectSQL) Files(dsn DSN) []string                { return x.D.files(dsn) }

// MigrationLock takes and releases the dialect's migration lock for dsn on conn.
func (x DialectSQL) MigrationLock(ctx context.Context, dsn DSN, conn *sql.Conn) (unlock func() error, err error) {
	l, err := x.D.migrationLocker(dsn)
	if err != nil {
		return nil, err
	}
	if err := l.SessionLock(ctx, conn); err != nil {
		return nil, err
	}
	return func() error { return l.SessionUnlock(ctx, conn) }, nil
}

// ParseSQLiteTime parses a timestamp selected as text (TimeCol) the way streamed scans do.
func ParseSQLiteTime(v string) (t sql.NullTime, err error) {
	tm, err := parseSQLiteTime(v)
	return sql.NullTime{Time: tm, Valid: err == nil}, err
}
