redirect "a@example.net";
keep;
