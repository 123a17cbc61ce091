if exists "x-priority" { discard; }
