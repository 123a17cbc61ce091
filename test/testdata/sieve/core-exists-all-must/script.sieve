if exists ["x-priority", "x-missing"] { discard; }
