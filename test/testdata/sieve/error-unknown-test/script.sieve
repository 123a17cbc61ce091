if frobnicated "x" { keep; }
