require ["copy", "reject"];
redirect :copy "a@example.net";
reject "no";
