redirect "a@example.net";
redirect "A@example.net";
