//go:build unix

package tools

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLocalFIFORefused checks that a named pipe inside the root is refused
// without being opened: opening a FIFO for reading blocks until a writer comes.
func TestLocalFIFORefused(t *testing.T) {
	_, root := filesFixture(t)
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	f := &Files{Roots: []string{root}}
	done := make(chan error, 1)
	go func() {
		_, err := f.open(context.Background(), FileEntry{URL: "pipe"}, "att", 1<<20)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
			t.Errorf("err = %v, want a not-a-regular-file refusal", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("opening a FIFO blocked")
	}
}
