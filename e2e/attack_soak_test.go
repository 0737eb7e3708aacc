//go:build soak

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
)

// TestAttackSoak runs the attacks of issue 11 at once, bounded and on
// loopback only, while a legitimate client calls tools: a flood of
// unauthenticated requests that trickle their bodies or never finish their
// headers, a flood of sessions, and oversized bodies in parallel. Every
// legitimate call must succeed, the server's peak resident memory must stay
// under the stated bound, and its file descriptors must return to their
// baseline. Run it with
//
//	go test -tags soak -run TestAttackSoak -count=1 -v ./e2e
//
// ATTACK_SECONDS sizes it (default 10).
func TestAttackSoak(t *testing.T) {
	seconds := 10
	if v, err := strconv.Atoi(os.Getenv("ATTACK_SECONDS")); err == nil && v > 0 {
		seconds = v
	}
	const maxBodies = 64 << 20
	fake := nanogpttest.NewDocs(serverKey)
	t.Cleanup(fake.Close)
	cmd := exec.Command(bin, "--transport", "http", "--addr", "127.0.0.1:0", "--read-header-timeout", "2s", "--read-timeout", "5s",
		"--max-bodies", strconv.Itoa(maxBodies), "--rate-limit", "600", "--max-concurrent", "16")
	cmd.Env = serverEnv("NANOGPT_API_KEY="+serverKey, "NANOGPT_BASE_URL="+fake.URL, "NANOGPT_MCP_AUTH_TOKENS="+hostToken+","+hostToken2)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
		}
	}
	if base == "" {
		t.Fatalf("did not start:\n%s", stderr.String())
	}
	pid := cmd.Process.Pid
	u, _ := url.Parse(base)
	legit := &front{t: t, url: base, fake: fake}
	legit.call(hostToken, askCall(0, "warm up"))
	time.Sleep(200 * time.Millisecond)
	fdsBefore, rssBefore := fdCount(t, pid), memKB(t, pid, "VmRSS")
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // reset the peak, where allowed

	ctx, stop := context.WithTimeout(context.Background(), time.Duration(seconds)*time.Second)
	defer stop()
	var wg sync.WaitGroup
	var attacks atomic.Int64
	// Unauthenticated: a body announced and trickled, and headers that never end.
	for range 100 {
		wg.Go(func() {
			for ctx.Err() == nil {
				conn, err := net.DialTimeout("tcp", u.Host, time.Second)
				if err != nil {
					continue
				}
				fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 200000\r\n\r\n{")
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 512)
				_, _ = conn.Read(buf)
				conn.Close()
				attacks.Add(1)
			}
		})
	}
	for range 50 {
		wg.Go(func() {
			for ctx.Err() == nil {
				conn, err := net.DialTimeout("tcp", u.Host, time.Second)
				if err != nil {
					continue
				}
				fmt.Fprintf(conn, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				buf := make([]byte, 512)
				_, _ = conn.Read(buf) // the server cuts it at --read-header-timeout
				conn.Close()
				attacks.Add(1)
			}
		})
	}
	// A session flood from one token.
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/mcp", strings.NewReader(initBody))
				req.Header.Set("Authorization", "Bearer "+hostToken2)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
				attacks.Add(1)
			}
		})
	}
	// Oversized bodies: 30 at once of 15 MiB each.
	big := strings.Repeat("z", 15<<20)
	for range 30 {
		wg.Go(func() {
			for ctx.Err() == nil {
				body := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + big + `"}}`
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/mcp", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+hostToken2)
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
				attacks.Add(1)
			}
		})
	}
	// Meanwhile the legitimate client calls, and every call must succeed.
	calls, failures, slowest := 0, 0, time.Duration(0)
	for ctx.Err() == nil {
		start := time.Now()
		resp, b := legit.call(hostToken, askCall(calls+1, "still there?"))
		calls++
		slowest = max(slowest, time.Since(start))
		if resp.StatusCode != 200 || !strings.Contains(b, `"answer":"4"`) {
			failures++
			t.Errorf("legitimate call %d failed after %s: %d %.200s", calls, time.Since(start), resp.StatusCode, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	peak := memKB(t, pid, "VmHWM")
	time.Sleep(3 * time.Second) // past --read-header-timeout: every attack's connection is gone
	fdsAfter := fdCount(t, pid)
	t.Logf("attack soak: %d s, %d attack requests or connections; %d legitimate calls, %d failed, slowest %s; resident memory %d MB before, peak %d MB; file descriptors %d before, %d after",
		seconds, attacks.Load(), calls, failures, slowest.Round(time.Millisecond), rssBefore>>10, peak>>10, fdsBefore, fdsAfter)
	if bound := rssBefore + 4*maxBodies>>10; peak > bound {
		t.Errorf("peak resident memory %d MB, over the bound of %d MB (before + 4 × --max-bodies)", peak>>10, bound>>10)
	}
	if fdsAfter > fdsBefore+4 {
		t.Errorf("file descriptors: %d after, %d before", fdsAfter, fdsBefore)
	}
	if calls == 0 {
		t.Error("no legitimate call was made")
	}
	noSecrets(t, "the server's log", stderr.String())
}

func fdCount(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	return len(entries)
}

var memRE = regexp.MustCompile(`(?m)^(\w+):\s+(\d+) kB`)

// memKB reads a size of /proc/<pid>/status, in kB.
func memKB(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, m := range memRE.FindAllStringSubmatch(string(b), -1) {
		if m[1] == field {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}
