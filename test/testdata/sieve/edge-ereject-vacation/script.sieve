require ["ereject", "vacation"];
vacation "v";
ereject "no";
