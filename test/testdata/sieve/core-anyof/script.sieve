if anyof (false, header :contains "subject" "42") { discard; }
