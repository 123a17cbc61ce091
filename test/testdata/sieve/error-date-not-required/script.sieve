if date "date" "year" "2016" { keep; }
