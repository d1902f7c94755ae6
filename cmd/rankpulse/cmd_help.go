package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strings"
)

// helpCmd is `rankpulse help [COMMAND [SUBCOMMAND]]`: the general usage,
// or one command's, on stdout.
func (c *cli) helpCmd(ctx context.Context, args []string) error {
	for len(args) > 0 && (args[len(args)-1] == "-h" || args[len(args)-1] == "--help") {
		args = args[:len(args)-1]
	}
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	name := strings.Join(args, " ")
	lines := commandUsage(name)
	if lines == "" {
		return usagef("no command %q (see `rankpulse help`)", name)
	}
	if group, flagless := commandShape(name); group || flagless {
		fmt.Fprintf(c.stdout, "Usage:\n%s", lines)
		return nil
	}
	// The command's own -h, which lists its flags, on stdout.
	if code := run(ctx, append(args, "-h"), c.stdin, c.stdout, c.stdout); code != exitOK {
		return &exitError{code}
	}
	return nil
}

// commandUsage returns the lines of the general usage about `rankpulse
// name` (name may be "config check"), with their continuation lines.
func commandUsage(name string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch rest, ok := strings.CutPrefix(line, "  rankpulse "+name); {
		case ok && (rest == "" || rest[0] == ' ' || rest[0] == '|'): // "retry" in "retry|drop"
			in = true
		case in && strings.HasPrefix(line, strings.Repeat(" ", 10)):
			// a continuation of the command above
		default:
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// subcommandRe matches a synopsis that starts with a subcommand (check,
// test, retry|drop).
var subcommandRe = regexp.MustCompile(`^[a-z][a-z|]*( |$)`)

// commandShape says whether name is a group of subcommands (config,
// alerts), to be listed, or a command without flags (version); either way
// its usage lines say all there is.
func commandShape(name string) (group, flagless bool) {
	group, flagless = true, true
	for _, line := range strings.Split(commandUsage(name), "\n") {
		rest, ok := strings.CutPrefix(line, "  rankpulse "+name)
		if !ok {
			continue // a continuation line, or the end
		}
		if rest == "" || strings.HasPrefix(rest, "  ") {
			group = false // no synopsis: the description follows the name
			continue
		}
		flagless = false
		synopsis, _, _ := strings.Cut(rest[1:], "  ") // the description starts after two spaces
		if !subcommandRe.MatchString(synopsis) {
			group = false
		}
	}
	return group, flagless
}

// setUsage makes a command's -h print its usage lines and its flags.
func setUsage(fs *flag.FlagSet, name string) {
	fs.Usage = func() {
		w := fs.Output()
		if lines := commandUsage(name); lines != "" {
			fmt.Fprintf(w, "Usage:\n%s", lines)
		} else {
			fmt.Fprintf(w, "Usage: rankpulse %s [flags]\n", name)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}
