require "reject";
redirect "boss@example.net";
reject "no";
