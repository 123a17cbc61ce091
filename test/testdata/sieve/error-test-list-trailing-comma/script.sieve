if allof (true, ) { keep; }
