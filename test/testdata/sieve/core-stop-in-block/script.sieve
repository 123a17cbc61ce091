if true {
  if true { keep; stop; }
}
discard;
