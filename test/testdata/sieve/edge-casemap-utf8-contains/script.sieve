require "fileinto";
if header :contains "subject" "GRÜSSE" { fileinto "folded"; }
if header :contains "subject" "KÖLN" { fileinto "oe"; }
if header :contains "subject" "köln" { fileinto "exact"; }
