// Command noop is a Go program that does nothing: bench/deliver/run.sh
// starts it beside /bin/true (a C program that does nothing) so that the
// table shows what starting the Go runtime costs on this machine, the
// share of every Go delivery agent's time that no code of ours can remove.
package main

func main() {}
