if header :is "subject" text:
Your invoice 42
.
{ discard; } elsif header :matches "subject" text:
..*
.
{ redirect "dot@example.net"; }
