package upstream

import (
	"path"
	"slices"
	"strings"
)

// invocation is one run of a known binary in a container: its name and the
// words after it.
type invocation struct {
	binary string
	args   []string
}

// shells run their -c argument as a script.
var shells = []string{"sh", "bash", "ash"}

// keywords may start a simple command before the program's name.
var keywords = []string{"exec", "until", "while", "if", "then", "do", "else", "elif", "!", "time"}

// invocations finds the known binaries a container runs: the command line itself
// (with entrypoint as its first word when the container sets no command), or,
// for `sh -c <script>`, every simple command of the script.
func invocations(entrypoint string, command, args []string, known []string) []invocation {
	line := append(slices.Clone(command), args...)
	if len(command) == 0 && entrypoint != "" {
		line = append([]string{entrypoint}, args...)
	}
	if len(line) == 0 {
		return nil
	}
	if slices.Contains(shells, path.Base(line[0])) {
		if i := slices.Index(line, "-c"); i >= 0 && i+1 < len(line) {
			var out []invocation
			for _, words := range simpleCommands(line[i+1]) {
				out = append(out, invocationsOf(words, known)...)
			}
			return out
		}
	}
	return invocationsOf(line, known)
}

// invocationsOf is the invocation a simple command makes of a known binary.
func invocationsOf(words []string, known []string) []invocation {
	for len(words) > 0 && (slices.Contains(keywords, words[0]) || isAssignment(words[0])) {
		words = words[1:]
	}
	if len(words) == 0 || !slices.Contains(known, path.Base(words[0])) {
		return nil
	}
	return []invocation{{binary: path.Base(words[0]), args: words[1:]}}
}

// isAssignment reports whether a word is a VAR=value prefix of a command.
func isAssignment(word string) bool {
	name, _, ok := strings.Cut(word, "=")
	return ok && name != "" && !strings.HasPrefix(name, "-") && !strings.ContainsAny(name, "/$\"'")
}

// simpleCommands splits a shell script into its simple commands' words: quotes
// are honoured and removed, and ; & | newlines and parentheses separate commands.
// It is no shell parser, only good enough to find the command lines the program writes.
func simpleCommands(script string) [][]string {
	var (
		commands [][]string
		words    []string
		word     strings.Builder
		inWord   bool
		quote    rune
	)
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			commands = append(commands, words)
			words = nil
		}
	}
	for _, r := range script {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			endWord()
		case strings.ContainsRune(";&|\n()", r):
			endCommand()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	endCommand()
	return commands
}

// flagsOf are the flags among args, without their values ("--a=b" is "--a").
// Every word starting with '-' is a flag: the program never writes a value
// that starts with one.
func flagsOf(args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, _, _ := strings.Cut(a, "=")
		out = append(out, name)
	}
	return out
}

// subcommandOf is the list's subcommand that args run: the one whose words
// appear in args in a row; "" when the list has no subcommands, and ok false
// when it has some and args run none of them.
func subcommandOf(list *FlagList, args []string) (sub string, ok bool) {
	subs := list.Subcommands()
	if len(subs) == 0 {
		return "", true
	}
	for _, s := range subs {
		words := strings.Fields(s)
		for i := 0; i+len(words) <= len(args); i++ {
			if slices.Equal(args[i:i+len(words)], words) {
				return s, true
			}
		}
	}
	return "", false
}
