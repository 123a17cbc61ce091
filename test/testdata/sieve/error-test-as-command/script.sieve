header :is "subject" "x";
