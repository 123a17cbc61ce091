if true {
  if true {
    if true {
      fileinto "x";
    }
  }
}
