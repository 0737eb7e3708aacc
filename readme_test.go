package main

import (
	"encoding/json"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// snippet is a fenced code block of a Markdown file.
type snippet struct {
	lang, text string
	line       int
}

func snippets(t *testing.T, file string) []snippet {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []snippet
	var cur *snippet
	for i, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &snippet{lang: strings.TrimPrefix(trimmed, "```"), line: i + 1}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	return out
}

// knownEnv is every environment variable the server reads.
func knownEnv() map[string]bool {
	env := map[string]bool{}
	for _, o := range options() {
		env[o.twin()] = true
	}
	for _, s := range secrets {
		env[s.name] = true
	}
	return env
}

// checkArgs checks a command line of the server: every --flag is one of the
// table (or --help, --version), and takes a value when it needs one.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	byName := map[string]option{}
	for _, o := range options() {
		byName[o.name] = o
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			t.Errorf("%s: %q is not a flag", where, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		o, ok := byName[name]
		if !ok && name != "help" && name != "version" {
			t.Errorf("%s: --%s is no flag of nanogpt-mcp", where, name)
			continue
		}
		if o.arg != "" && !hasValue {
			i++ // its value
		}
	}
}

var envRE = regexp.MustCompile(`\bNANOGPT_[A-Z_]+\b`)

// TestReadmeSnippets: every snippet of the README that configures or runs
// the server names the binary nanogpt-mcp, flags it has and environment
// variables it reads, and every JSON snippet parses.
func TestReadmeSnippets(t *testing.T) {
	env := knownEnv()
	seen := map[string]bool{}
	for _, s := range snippets(t, "README.md") {
		where := "README.md:" + strconv.Itoa(s.line)
		for _, name := range envRE.FindAllString(s.text, -1) {
			if !env[name] {
				t.Errorf("%s: %s is read by nothing", where, name)
			}
		}
		switch s.lang {
		case "json":
			var cfg struct {
				MCPServers map[string]mcpEntry `json:"mcpServers"`
				Servers    map[string]mcpEntry `json:"servers"`
			}
			if err := json.Unmarshal([]byte(s.text), &cfg); err != nil {
				t.Errorf("%s: not JSON: %v", where, err)
				continue
			}
			for name, e := range cfg.MCPServers {
				checkEntry(t, where+" "+name, e)
				seen["mcpServers"] = true
			}
			for name, e := range cfg.Servers {
				checkEntry(t, where+" "+name, e)
				seen["servers"] = true
			}
		case "sh":
			for _, l := range strings.Split(s.text, "\n") {
				cmd, _, _ := strings.Cut(l, "#")
				f := strings.Fields(cmd)
				if i := slices.Index(f, "--"); len(f) > 2 && f[0] == "claude" && f[1] == "mcp" && i > 0 && i+1 < len(f) { // claude mcp add … -- <binary> <args>
					if path.Base(f[i+1]) != "nanogpt-mcp" {
						t.Errorf("%s: claude runs %q, not nanogpt-mcp", where, f[i+1])
					}
					checkArgs(t, where, f[i+2:])
					seen["claude"] = true
				} else if len(f) > 0 && path.Base(f[0]) == "nanogpt-mcp" {
					checkArgs(t, where, f[1:])
					seen["run"] = true
				}
			}
		}
	}
	for _, want := range []string{"mcpServers", "servers", "claude", "run"} {
		if !seen[want] {
			t.Errorf("the README has no %s snippet to check", want)
		}
	}
}

type mcpEntry struct {
	Type    string            `json:"type"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
}

func checkEntry(t *testing.T, where string, e mcpEntry) {
	t.Helper()
	if path.Base(e.Command) != "nanogpt-mcp" {
		t.Errorf("%s: command %q is not nanogpt-mcp", where, e.Command)
	}
	if e.Type != "" && e.Type != "stdio" {
		t.Errorf("%s: type %q", where, e.Type)
	}
	checkArgs(t, where, e.Args)
	if e.Env["NANOGPT_API_KEY"] == "" {
		t.Errorf("%s: no NANOGPT_API_KEY in env", where)
	}
}

// TestReadmeIsShort: the README is the newcomer's page (under 150 lines);
// the references live in docs/.
func TestReadmeIsShort(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n >= 150 {
		t.Errorf("README.md has %d lines; keep it under 150 (move references to docs/)", n)
	}
}
