package tools

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Which folders local files may come from. Nothing, by default: a server
// that Claude Desktop starts in / must not read the whole disk (/proc/self/
// environ holds the key). Over stdio the client's roots (MCP roots/list,
// which Claude Code, VS Code and Cursor answer) are allowed; the operator can
// allow folders with --allow-dir. /, the home folder itself and the system's
// folders are never a client's root, and /proc, /sys and /dev are never read.

// neverRead are folders no file is ever read from, whatever is allowed.
var neverRead = []string{"/proc", "/sys", "/dev"}

// systemTrees are the system's own folders: nothing in them is taken from
// a client's roots.
var systemTrees = []string{"/bin", "/boot", "/etc", "/lib", "/lib32", "/lib64", "/sbin", "/usr", "/System", "/Library"}

// sharedTops are folders that hold everyone's data: a root may lie inside
// one (/var/www/site), but is never one of them.
var sharedTops = []string{"/home", "/Users", "/root", "/var", "/opt", "/srv", "/tmp", "/run", "/private", "/Applications", "/Volumes"}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// isFilesystemRoot reports / or a Windows drive's root.
func isFilesystemRoot(p string) bool {
	return filepath.Dir(p) == p
}

// CheckAllowedDir refuses a folder that the operator names with --allow-dir
// but whose files must never be read: the whole disk, or /proc, /sys, /dev.
func CheckAllowedDir(abs string) error {
	switch {
	case isFilesystemRoot(abs):
		return fmt.Errorf("%s is the whole disk; allow the folder that holds the files (it would also expose /proc/self/environ, the server's key included)", abs)
	case runtime.GOOS != "windows" && slices.ContainsFunc(neverRead, func(d string) bool { return within(abs, d) }):
		return fmt.Errorf("%s is a system folder whose files are never read", abs)
	}
	return nil
}

// clientRootProblem says why a root the client declares is not allowed, or "".
func clientRootProblem(abs string) string {
	home, _ := os.UserHomeDir()
	switch {
	case CheckAllowedDir(abs) != nil:
		return "the whole disk or a system folder"
	case home != "" && filepath.Clean(home) == abs:
		return "the home folder itself"
	case runtime.GOOS == "windows" && strings.HasPrefix(strings.ToLower(abs), strings.ToLower(os.Getenv("SystemRoot"))) && os.Getenv("SystemRoot") != "":
		return "a system folder"
	case runtime.GOOS != "windows" && slices.ContainsFunc(systemTrees, func(d string) bool { return within(abs, d) }):
		return "a system folder"
	case runtime.GOOS != "windows" && slices.Contains(sharedTops, abs):
		return "a folder of everyone's data"
	}
	return ""
}

// rootsTimeout bounds the client's answer to roots/list.
const rootsTimeout = 5 * time.Second

// ClientRoots asks the client of a call for its roots (roots/list) and keeps
// the answer per session until the client says its roots changed. A client
// that declares no roots capability, or an era without server-to-client
// requests (2026-07-28), has none. Roots that are the whole disk, the home
// folder itself or a system folder are left out (and logged).
func ClientRoots(s *server.MCPServer, logf func(msg string, args ...any)) func(ctx context.Context) []string {
	var (
		mu    sync.Mutex
		cache = map[string][]string{}
	)
	s.AddNotificationHandler(string(mcp.MethodNotificationRootsListChanged), func(ctx context.Context, _ mcp.JSONRPCNotification) {
		if sess := server.ClientSessionFromContext(ctx); sess != nil {
			mu.Lock()
			delete(cache, sess.SessionID())
			mu.Unlock()
		}
	})
	return func(ctx context.Context) []string {
		sess := server.ClientSessionFromContext(ctx)
		withInfo, ok := sess.(server.SessionWithClientInfo)
		if !ok || withInfo.GetClientCapabilities().Roots == nil {
			return nil
		}
		mu.Lock()
		roots, ok := cache[sess.SessionID()]
		mu.Unlock()
		if ok {
			return roots
		}
		rctx, cancel := context.WithTimeout(ctx, rootsTimeout)
		defer cancel()
		res, err := s.RequestRoots(rctx, mcp.ListRootsRequest{})
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				logf("the client's roots could not be read", "err", err)
			}
			return nil
		}
		roots = []string{}
		for _, r := range res.Roots {
			p, err := rootPath(r.URI)
			if err != nil {
				logf("a client root is not a local folder; left out", "root", r.URI)
				continue
			}
			if why := clientRootProblem(p); why != "" {
				logf("a client root is "+why+"; left out", "root", p)
				continue
			}
			roots = append(roots, p)
		}
		mu.Lock()
		cache[sess.SessionID()] = roots
		mu.Unlock()
		return roots
	}
}

// rootPath turns a root's file:// URI into a clean absolute path.
func rootPath(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return "", errors.New("not a file URI")
	}
	p, err := fileURLPath(uri)
	if err != nil || !filepath.IsAbs(p) {
		return "", errors.New("not an absolute path")
	}
	return filepath.Clean(p), nil
}
