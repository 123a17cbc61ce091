package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/term"
)

// ReadPassword reads a password: at a prompt with echo off when stdin is a
// terminal (twice when confirm, and the two must agree), else the first
// line of stdin. Never from the command line, which every user sees in ps.
func (c *Call) ReadPassword(prompt string, confirm bool) (string, error) {
	if f, ok := c.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		read := func(p string) (string, error) {
			fmt.Fprint(c.Stderr, p)
			pw, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(c.Stderr) // the newline the user typed was not echoed
			return string(pw), err
		}
		pw, err := read(prompt)
		if err != nil {
			return "", err
		}
		if confirm {
			again, err := read("again: ")
			if err != nil {
				return "", err
			}
			if again != pw {
				return "", errors.New("the two passwords differ")
			}
		}
		if pw == "" {
			return "", errors.New("empty password")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(c.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on stdin (give it on stdin or at the prompt; never on the command line)")
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password on stdin")
	}
	return pw, nil
}
