if duplicate { keep; }
