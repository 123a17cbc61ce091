package main

// The whole ebb binary opens PostgreSQL directories (directory.dsn =
// "postgres://…"); ebb-deliver, which leaves this import out, hands those
// deliveries to it (cmd/ebb-deliver).
import _ "github.com/ebbmail/ebb/internal/directory/postgres"
