require "vacation";
vacation :addresses ["bob@example.com", "robert@example.com"] :subject "Away" "Away.";
