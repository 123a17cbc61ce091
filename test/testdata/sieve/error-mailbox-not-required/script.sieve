require "fileinto";
if mailboxexists "x" { keep; }
