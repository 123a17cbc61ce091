require ["fileinto", "imap4flags", "envelope", "variables", "relational", "comparator-i;ascii-numeric", "regex"];
if header :contains "subject" "project-0" { fileinto "Projects/0"; stop; }
if address :domain :is "from" "customer1.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list2.*>*" { fileinto "Lists/2"; stop; }
if anyof (header :is "x-mailer" "bulk3", envelope :localpart :is "from" "noreply3") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "104" { set "s" "4"; }
if header :contains "subject" "project-5" { fileinto "Projects/5"; stop; }
if address :domain :is "from" "customer6.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list7.*>*" { fileinto "Lists/7"; stop; }
if anyof (header :is "x-mailer" "bulk8", envelope :localpart :is "from" "noreply8") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "109" { set "s" "9"; }
if header :contains "subject" "project-10" { fileinto "Projects/10"; stop; }
if address :domain :is "from" "customer11.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list12.*>*" { fileinto "Lists/12"; stop; }
if anyof (header :is "x-mailer" "bulk13", envelope :localpart :is "from" "noreply13") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "114" { set "s" "14"; }
if header :contains "subject" "project-15" { fileinto "Projects/15"; stop; }
if address :domain :is "from" "customer16.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list17.*>*" { fileinto "Lists/17"; stop; }
if anyof (header :is "x-mailer" "bulk18", envelope :localpart :is "from" "noreply18") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "119" { set "s" "19"; }
if header :contains "subject" "project-20" { fileinto "Projects/20"; stop; }
if address :domain :is "from" "customer21.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list22.*>*" { fileinto "Lists/22"; stop; }
if anyof (header :is "x-mailer" "bulk23", envelope :localpart :is "from" "noreply23") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "124" { set "s" "24"; }
if header :contains "subject" "project-25" { fileinto "Projects/25"; stop; }
if address :domain :is "from" "customer26.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list27.*>*" { fileinto "Lists/27"; stop; }
if anyof (header :is "x-mailer" "bulk28", envelope :localpart :is "from" "noreply28") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "129" { set "s" "29"; }
if header :contains "subject" "project-30" { fileinto "Projects/30"; stop; }
if address :domain :is "from" "customer31.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list32.*>*" { fileinto "Lists/32"; stop; }
if anyof (header :is "x-mailer" "bulk33", envelope :localpart :is "from" "noreply33") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "134" { set "s" "34"; }
if header :contains "subject" "project-35" { fileinto "Projects/35"; stop; }
if address :domain :is "from" "customer36.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list37.*>*" { fileinto "Lists/37"; stop; }
if anyof (header :is "x-mailer" "bulk38", envelope :localpart :is "from" "noreply38") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "139" { set "s" "39"; }
if header :contains "subject" "project-40" { fileinto "Projects/40"; stop; }
if address :domain :is "from" "customer41.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list42.*>*" { fileinto "Lists/42"; stop; }
if anyof (header :is "x-mailer" "bulk43", envelope :localpart :is "from" "noreply43") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "144" { set "s" "44"; }
if header :contains "subject" "project-45" { fileinto "Projects/45"; stop; }
if address :domain :is "from" "customer46.example" { addflag "\\Flagged"; fileinto "Customers"; stop; }
if header :matches "list-id" "*<list47.*>*" { fileinto "Lists/47"; stop; }
if anyof (header :is "x-mailer" "bulk48", envelope :localpart :is "from" "noreply48") { fileinto "Bulk"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "149" { set "s" "49"; }
if header :regex "subject" "^\\[(urgent|asap)\\]" { addflag "\\Flagged"; }
keep;
