package tools

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nanogpt-mcp/nanogpt-mcp/capped"
)

// readInRoot reads root/rel, at most max bytes, through os.Root. Messages name
// the file and the folder as shown says (a remote caller is not told the
// server's folders).
func readInRoot(root, rel string, shown shownPaths, max int64) ([]byte, error) {
	name, folder := shown.file, shown.root
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("the allowed folder %s cannot be opened: %w", folder, pathless(err))
	}
	defer r.Close()
	// Stat before opening, so a FIFO or device is refused instead of blocking Open.
	st, err := r.Stat(rel)
	if err != nil && escapes(err) {
		// os.Root refuses every absolute symlink, even one that points back
		// inside the root. Resolve it; the open below still goes through r,
		// so nothing outside the root can be reached whatever happens meanwhile.
		if inner, ok := symlinkInside(root, rel); ok {
			rel = inner
			st, err = r.Stat(rel)
		}
	}
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("%s does not exist", name)
		case escapes(err):
			return nil, fmt.Errorf("%s leads outside the allowed folder %s (through .. or a symlink)", name, folder)
		}
		return nil, fmt.Errorf("%s cannot be read: %w", name, pathless(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	if st.Size() > max {
		return nil, tooLarge("%s is %s; at most %s allowed here", name, humanBytes(st.Size()), humanBytes(max))
	}
	file, err := r.Open(rel)
	if err != nil {
		if escapes(err) {
			return nil, fmt.Errorf("%s leads outside the allowed folder %s (through .. or a symlink)", name, folder)
		}
		return nil, fmt.Errorf("%s cannot be read: %w", name, pathless(err))
	}
	defer file.Close()
	if st, err = file.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	data, err := capped.Read(file, st.Size(), max)
	switch {
	case errors.Is(err, capped.ErrTooLarge): // it grew since it was measured
		return nil, tooLarge("%s is larger than %s", name, humanBytes(max))
	case err != nil:
		return nil, fmt.Errorf("%s cannot be read: %w", name, pathless(err))
	}
	return data, nil
}

// escapes reports os.Root's refusal of a path leading outside the root. The
// path itself is left out of the match, so a file named "escapes" is no trigger.
func escapes(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return strings.Contains(err.Error(), "escapes")
}

// symlinkInside resolves root/rel through its symlinks and, when the result is
// still inside root, returns it relative to root.
func symlinkInside(root, rel string) (string, bool) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", false
	}
	target, err := filepath.EvalSymlinks(filepath.Join(root, rel))
	if err != nil {
		return "", false
	}
	inner, err := filepath.Rel(realRoot, target)
	if err != nil || inner == ".." || strings.HasPrefix(inner, ".."+string(filepath.Separator)) || filepath.IsAbs(inner) {
		return "", false
	}
	return inner, true
}

// fileURLPath turns file:///a/b (or file:///C:/a on Windows) into a path.
func fileURLPath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid file URL", raw)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("%q is not a valid file URL (write file:///absolute/path)", raw)
	}
	p := u.Path
	switch {
	case isDrive(u.Host): // file://C:/dir, a common slip for file:///C:/dir
		p = u.Host + p
	case u.Host != "" && !strings.EqualFold(u.Host, "localhost"):
		return "", fmt.Errorf("file URLs on other hosts (%s) are not supported", u.Host)
	case len(p) >= 3 && p[0] == '/' && isDrive(p[1:3]): // /C:/dir → C:/dir
		p = p[1:]
	}
	if p == "" {
		return "", fmt.Errorf("%q names no file", raw)
	}
	return filepath.FromSlash(p), nil
}

// isDrive reports whether s is a Windows drive such as C:.
func isDrive(s string) bool {
	return len(s) == 2 && s[1] == ':' && ('a' <= s[0]|0x20 && s[0]|0x20 <= 'z')
}

// shownPaths are the names a message gives a file and its folder.
type shownPaths struct{ file, root string }

// pathless drops the path a *fs.PathError carries (it names the server's folders).
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
