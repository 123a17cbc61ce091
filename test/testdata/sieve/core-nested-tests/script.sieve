if allof (anyof (false, true), not anyof (false, false)) { discard; }
