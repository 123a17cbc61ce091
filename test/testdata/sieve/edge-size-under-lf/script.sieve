if size :under 735 { discard; }
