if exists "" { discard; }
