if anyof (false, exists "x-missing") { discard; }
