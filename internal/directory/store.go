package directory

// What a store of its own in the directory's database (the fetch state,
// internal/fetchstate) uses of it besides DB: its placeholders and its
// errors. Its tables are in the directory's migrations (fetch_schema.go),
// so that one schema version covers the database.

// Rebind rewrites the "?" placeholders of query for the database's engine
// (PostgreSQL's $1, $2, …).
func (d *Directory) Rebind(query string) string { return d.q(query) }

// DBError is err as the directory's boundary error for op (naming the
// database), or nil.
func (d *Directory) DBError(op string, err error) error { return d.dbError(op, err) }

// IsUnique reports whether err is a unique-constraint violation.
func IsUnique(err error) bool { return isUnique(err) }
