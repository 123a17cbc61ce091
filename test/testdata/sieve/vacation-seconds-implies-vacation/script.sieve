require ["vacation-seconds"];
vacation :subject "x" "y";
