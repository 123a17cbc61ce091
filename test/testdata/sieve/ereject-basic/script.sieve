require "ereject";
ereject "Rejected at SMTP time";
