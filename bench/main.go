// Command bench measures nanogpt-mcp as its users feel it, against a fake
// NanoGPT on loopback that answers at once:
//
//  1. start-up: spawning the binary over stdio until the initialize response;
//  2. added latency: an ask round trip through the server over stdio, against
//     the same chat request sent straight to the fake, interleaved;
//  3. hosted throughput: 16 concurrent clients over streamable HTTP;
//  4. memory: resident size idle, after the throughput run, and the extra
//     memory while handling large media;
//  5. the size of the tools/list result.
//
// It builds the binary itself, and measures NanoGPT's official MCP server
// (npm @nanogpt/mcp with a Node 22 from npm, installed into the user's cache
// folder, outside the repository) the same way for start-up and ask round
// trips. It prints Markdown tables for docs/BENCHMARKS.md. Usage, from the
// repository:
//
//	go run ./bench                      # the full run, about a minute
//	go run ./bench -quick               # a short run without the official server (CI)
//	go run ./bench -baseline old-binary # also measure another build, with ratios
//
// It exits non-zero only on errors (a failed call, a server that does not
// start), never because a figure misses its target.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type options struct {
	quick     bool
	runs      int
	calls     int
	warmup    int
	duration  time.Duration
	tpRuns    int
	clients   int
	mediaRuns int
	peer      bool
	peerDir   string
	bin       string
	baseline  string
	stateless bool
	out       string
	only      map[string]bool
	serverEnv []string
	verbose   bool
}

// phases are the parts of a run, in order.
var phases = []string{"toolslist", "startup", "latency", "hosted", "media"}

func (o options) does(phase string) bool { return len(o.only) == 0 || o.only[phase] }

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "a short run for CI: few repetitions, no official server (unless -peer)")
	flag.IntVar(&o.runs, "runs", 30, "start-ups per server")
	flag.IntVar(&o.calls, "calls", 2000, "ask round trips per server (each paired with a direct request)")
	flag.IntVar(&o.warmup, "warmup", 200, "ask round trips per server before measuring")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of one hosted throughput run (after 1s of warm-up)")
	flag.IntVar(&o.tpRuns, "tp-runs", 3, "hosted throughput runs")
	flag.IntVar(&o.clients, "clients", 16, "concurrent hosted clients")
	flag.IntVar(&o.mediaRuns, "media-runs", 7, "fresh server processes per media case")
	flag.BoolVar(&o.peer, "peer", true, "also measure the official server ("+peerPackage+"@"+peerVersion+", installed with npm)")
	flag.StringVar(&o.peerDir, "peer-dir", defaultPeerDir(), "cache folder for the official server and its Node")
	flag.StringVar(&o.bin, "bin", "", "measure this nanogpt-mcp binary instead of building one")
	flag.StringVar(&o.baseline, "baseline", "", "also measure this nanogpt-mcp binary (e.g. built before a change) and print ratios against it")
	flag.BoolVar(&o.stateless, "stateless", true, "also measure hosted throughput with --stateless")
	flag.StringVar(&o.out, "out", "", "also write the Markdown report to this file")
	flag.Func("server-env", "`KEY=VALUE` added to the environment of the servers under test (repeatable), e.g. GOGC=50 or GODEBUG=gctrace=1", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("%q is not KEY=VALUE", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	flag.BoolVar(&o.verbose, "v", false, "print the servers' stderr after each media call")
	only := flag.String("only", "", "run only these phases, comma-separated: "+strings.Join(phases, ","))
	flag.Parse()
	for _, p := range strings.Split(*only, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !slices.Contains(phases, p) {
			fmt.Fprintf(os.Stderr, "bench: -only: unknown phase %q (phases: %s)\n", p, strings.Join(phases, ","))
			os.Exit(2)
		}
		if o.only == nil {
			o.only = map[string]bool{}
		}
		o.only[p] = true
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		for name, apply := range map[string]func(){
			"runs": func() { o.runs = 3 }, "calls": func() { o.calls = 100 }, "warmup": func() { o.warmup = 20 },
			"duration": func() { o.duration = time.Second }, "tp-runs": func() { o.tpRuns = 1 },
			"media-runs": func() { o.mediaRuns = 1 }, "peer": func() { o.peer = false }, "stateless": func() { o.stateless = false },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	if o.runs < 1 || o.calls < 1 || o.tpRuns < 1 || o.mediaRuns < 1 || o.clients < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "bench: -runs, -calls, -tp-runs, -media-runs, -clients and -duration must be positive")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var logStart = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] %s\n", time.Since(logStart).Seconds(), fmt.Sprintf(format, args...))
}

// subject is a server under test.
type subject struct {
	name    string
	peer    bool
	path    string // the binary (ours) or node (the peer)
	script  string // the peer's script
	env     []string
	dir     string // working folder (ours: also the allowed input folder)
	outDir  string // ours: --output-dir
	askTool string
	version string
}

// stdioCmd runs the subject over stdio, with extra flags (ours only).
func (s *subject) stdioCmd(extra ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if s.peer {
		cmd = exec.Command(s.path, s.script)
	} else {
		// Local files are read only inside an allowed folder (the media cases' audio is in s.dir).
		cmd = exec.Command(s.path, append([]string{"--output-dir", s.outDir, "--allow-dir", s.dir}, extra...)...)
	}
	cmd.Dir, cmd.Env = s.dir, s.env
	return cmd
}

// httpCmd serves streamable HTTP on addr, without the per-caller rate and
// concurrency limits (all clients here are one caller).
func (s *subject) httpCmd(extra ...string) func(addr string) *exec.Cmd {
	return func(addr string) *exec.Cmd {
		args := append([]string{"--transport", "http", "--addr", addr, "--rate-limit", "0", "--max-concurrent", "0"}, extra...)
		cmd := exec.Command(s.path, args...)
		cmd.Dir, cmd.Env = s.dir, s.env
		return cmd
	}
}

// askCall is the tools/call params of one small chat request.
func (s *subject) askCall() map[string]any {
	if s.peer {
		return map[string]any{"name": s.askTool, "arguments": map[string]any{"model": chatModel,
			"messages": []any{map[string]any{"role": "user", "content": "Say hello."}}}}
	}
	return askParams()
}

func askParams() map[string]any {
	return map[string]any{"name": "ask", "arguments": map[string]any{"model": chatModel, "userPrompt": "Say hello."}}
}

// baseEnv is the environment without any NanoGPT settings of the caller's.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NANOGPT_") {
			env = append(env, kv)
		}
	}
	return env
}

func run(o options) error {
	rep := &report{opts: o, machine: machine(), loadBefore: loadAvg(), started: time.Now()}
	tmp, err := os.MkdirTemp("", "nanogpt-mcp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	logf("building the fake NanoGPT (%d×%d PNGs, a %d-byte WAV)", imageSide, imageSide, uploadBytes)
	fk := newFake()
	defer fk.Close()
	env := append(baseEnv(), "NANOGPT_API_KEY="+benchKey, "NANOGPT_BASE_URL="+fk.URL)
	env = append(env, o.serverEnv...)

	bin := o.bin
	if bin == "" {
		if bin, err = build(tmp); err != nil {
			return err
		}
	}
	var subjects []*subject
	newOurs := func(name, path string) (*subject, error) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		s := &subject{name: name, path: abs, env: env, dir: filepath.Join(tmp, name), askTool: "ask"}
		s.outDir = filepath.Join(s.dir, "out")
		if err := os.MkdirAll(s.outDir, 0o755); err != nil {
			return nil, err
		}
		if out, err := exec.Command(abs, "--version").Output(); err == nil {
			s.version = strings.TrimPrefix(strings.TrimSpace(string(out)), "nanogpt-mcp ")
		}
		return s, nil
	}
	ours, err := newOurs("nanogpt-mcp", bin)
	if err != nil {
		return err
	}
	subjects = append(subjects, ours)
	rep.ours = ours
	if o.baseline != "" {
		b, err := newOurs("baseline", o.baseline)
		if err != nil {
			return err
		}
		subjects = append(subjects, b)
		rep.baseline = b
	}
	if o.peer && !o.does("toolslist") && !o.does("startup") && !o.does("latency") {
		o.peer = false // only those phases measure it
		rep.peerNote = "not measured (not in -only)"
	}
	if o.peer {
		p, err := installPeer(o.peerDir, logf)
		if err != nil {
			rep.peerNote = err.Error()
			logf("the official server is unavailable, going on without it: %v", err)
		} else {
			ps := &subject{name: "official", peer: true, path: p.node, script: p.script, dir: tmp,
				env: slices.Concat(env, []string{"NANOGPT_AUTH_MODE=both"}), version: peerPackage + "@" + peerVersion + " on Node " + p.nodeVersion}
			if err := ps.findChatTool(); err != nil {
				rep.peerNote = err.Error()
				logf("the official server is unavailable, going on without it: %v", err)
			} else {
				subjects = append(subjects, ps)
				rep.peer = ps
			}
		}
	} else if rep.peerNote == "" {
		rep.peerNote = "not measured (-peer=false)"
	}

	for _, p := range []struct {
		name string
		run  func() error
	}{
		{"toolslist", func() error { return measureToolsList(rep, subjects) }},
		{"startup", func() error { return measureStartup(rep, subjects, o.runs) }},
		{"latency", func() error { return measureLatency(rep, fk, subjects, o.warmup, o.calls) }},
		{"hosted", func() error { return measureHosted(rep, subjects, o) }},
		{"media", func() error { return measureMedia(rep, fk, subjects, o.mediaRuns, o.verbose) }},
	} {
		if o.does(p.name) {
			if err := p.run(); err != nil {
				return err
			}
		}
	}
	rep.loadAfter = loadAvg()
	rep.took = time.Since(rep.started)

	var md bytes.Buffer
	rep.write(&md)
	os.Stdout.Write(md.Bytes())
	if o.out != "" {
		if err := os.WriteFile(o.out, md.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// build compiles the server (the module holding this bench) into dir.
func build(dir string) (string, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(dir, "bin", "nanogpt-mcp")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	buildDesc = describeCheckout(root)
	logf("building the server: go build -o %s . (in %s)", bin, root)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// buildDesc says which checkout the measured binary was built from.
var buildDesc string

// describeCheckout names the commit of root and whether files differ from it,
// with read-only git commands ("" without git).
func describeCheckout(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	desc := "commit " + strings.TrimSpace(string(out))
	st := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no")
	st.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0") // never write the index
	if out, err := st.Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		desc += " with uncommitted changes"
	}
	return desc
}

// findChatTool starts the peer once and finds its chat tool.
func (s *subject) findChatTool() error {
	srv, err := startStdio(s.name, s.stdioCmd())
	if err != nil {
		return err
	}
	defer srv.close()
	if _, err := srv.initialize(time.Now()); err != nil {
		return err
	}
	list, err := srv.call("tools/list", map[string]any{})
	if err != nil {
		return err
	}
	s.askTool, err = peerChatTool(list)
	return err
}

// toolsListFigure is the size of a tools/list result.
type toolsListFigure struct {
	label       string
	tools       int
	bytes       int
	params      int
	undescribed []string
}

func measureToolsList(rep *report, subjects []*subject) error {
	logf("tools/list sizes")
	for _, s := range subjects {
		cases := []struct {
			label string
			args  []string
		}{{"all tools", nil}}
		if !s.peer {
			cases = append(cases, struct {
				label string
				args  []string
			}{"ask, createImage, createSpeech, createTranscription", []string{"--tools", "ask,createImage,createSpeech,createTranscription"}})
		}
		for _, c := range cases {
			srv, err := startStdio(s.name, s.stdioCmd(c.args...))
			if err != nil {
				return err
			}
			_, err = srv.initialize(time.Now())
			var list json.RawMessage
			if err == nil {
				list, err = srv.call("tools/list", map[string]any{})
			}
			srv.close()
			if err != nil {
				return err
			}
			f := toolsListFigure{label: c.label, bytes: len(list)}
			f.tools, f.params, f.undescribed = describeCheck(list)
			rep.toolsList = append(rep.toolsList, subjectFigure[toolsListFigure]{s, f})
		}
	}
	return nil
}

// describeCheck counts tools and input parameters (nested ones included) and
// lists the parameters without a description.
func describeCheck(list json.RawMessage) (tools, params int, undescribed []string) {
	var r struct {
		Tools []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"inputSchema"`
		} `json:"tools"`
	}
	if json.Unmarshal(list, &r) != nil {
		return 0, 0, []string{"(tools/list is not JSON)"}
	}
	var walk func(path string, schema map[string]any)
	walk = func(path string, schema map[string]any) {
		if props, ok := schema["properties"].(map[string]any); ok {
			for name, p := range props {
				ps, _ := p.(map[string]any)
				params++
				if d, _ := ps["description"].(string); strings.TrimSpace(d) == "" {
					undescribed = append(undescribed, path+"."+name)
				}
				walk(path+"."+name, ps)
			}
		}
		if items, ok := schema["items"].(map[string]any); ok {
			walk(path+"[]", items)
		}
		if ap, ok := schema["additionalProperties"].(map[string]any); ok {
			walk(path+"{}", ap)
		}
	}
	for _, t := range r.Tools {
		walk(t.Name, t.InputSchema)
	}
	return len(r.Tools), params, undescribed
}

// subjectFigure ties a figure to its server.
type subjectFigure[T any] struct {
	s *subject
	f T
}

func measureStartup(rep *report, subjects []*subject, runs int) error {
	logf("start-up: %d runs per server, interleaved", runs)
	rep.startup = map[*subject][]time.Duration{}
	rep.idle = map[*subject][]float64{}
	for i := range runs {
		for j := range subjects {
			s := subjects[(i+j)%len(subjects)] // rotate who goes first
			t0 := time.Now()
			srv, err := startStdio(s.name, s.stdioCmd())
			if err != nil {
				return err
			}
			took, err := srv.initialize(t0)
			if err == nil {
				// Idle memory: what an assistant's session costs once it has the tools.
				if _, err = srv.call("tools/list", map[string]any{}); err == nil {
					if m, merr := readMem(srv.pid()); merr == nil {
						rep.idle[s] = append(rep.idle[s], m.RSS)
					}
				}
			}
			srv.close()
			if err != nil {
				return err
			}
			rep.startup[s] = append(rep.startup[s], took)
		}
	}
	return nil
}

func measureLatency(rep *report, fk *fake, subjects []*subject, warmup, calls int) error {
	logf("ask round trips over stdio: %d warm-up and %d measured per server, interleaved with direct requests", warmup, calls)
	servers := make([]*stdioServer, len(subjects))
	for i, s := range subjects {
		srv, err := startStdio(s.name, s.stdioCmd())
		if err != nil {
			return err
		}
		defer srv.close()
		if _, err := srv.initialize(time.Now()); err != nil {
			return err
		}
		if _, err := srv.call("tools/list", map[string]any{}); err != nil {
			return err
		}
		servers[i] = srv
	}
	// The direct request is the very body our server sends for this ask call.
	askOnce := func(i int) (time.Duration, error) {
		line, id := servers[i].request("tools/call", subjects[i].askCall())
		t0 := time.Now()
		resp, err := servers[i].roundTrip(line, id)
		took := time.Since(t0)
		if err != nil {
			return 0, err
		}
		res, err := resultOf(resp)
		if err == nil {
			err = toolResult(res, chatAnswer)
		}
		if err != nil {
			return 0, fmt.Errorf("%s: ask: %w", subjects[i].name, err)
		}
		return took, nil
	}
	for i := range servers {
		for range max(1, warmup) {
			if _, err := askOnce(i); err != nil {
				return err
			}
		}
	}
	last, ok := fk.Last("/api/v1/chat/completions")
	if !ok {
		return fmt.Errorf("the fake saw no chat request from %s", subjects[0].name)
	}
	rep.directBody = string(last.Body)
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	directOnce := func() (time.Duration, error) {
		t0 := time.Now()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, fk.URL+"/api/v1/chat/completions", bytes.NewReader(last.Body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+benchKey)
		req.Header.Set("x-api-key", benchKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := direct.Do(req)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(t0)
		if err == nil && (resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(chatAnswer))) {
			err = fmt.Errorf("direct request: HTTP %d: %.300s", resp.StatusCode, body)
		}
		return took, err
	}
	for range max(1, warmup) {
		if _, err := directOnce(); err != nil {
			return err
		}
	}
	rep.askRTT = map[*subject][]time.Duration{}
	rep.ping = map[*subject][]time.Duration{}
	cpu0 := make([]time.Duration, len(servers))
	for i, srv := range servers {
		cpu0[i], _ = cpuTime(srv.pid())
	}
	// Servers take turns in blocks (in a rotating order, after a pause), so
	// one server's background work (the official server's garbage collector
	// runs after its calls) lands on few of another's calls; within a block,
	// each call alternates with a direct request, which is its pair.
	rep.direct = map[*subject][]time.Duration{}
	blocks := min(4, calls)
	for b := range blocks {
		n := calls / blocks
		if b == blocks-1 {
			n += calls % blocks
		}
		for j := range servers {
			i := (b + j) % len(servers)
			time.Sleep(50 * time.Millisecond)
			for k := range n {
				for _, directFirst := range []bool{k%2 == 0, k%2 != 0} {
					if directFirst {
						d, err := directOnce()
						if err != nil {
							return err
						}
						rep.direct[subjects[i]] = append(rep.direct[subjects[i]], d)
						continue
					}
					d, err := askOnce(i)
					if err != nil {
						return err
					}
					rep.askRTT[subjects[i]] = append(rep.askRTT[subjects[i]], d)
				}
			}
		}
	}
	rep.cpuPerCall = map[*subject]float64{}
	for i, srv := range servers {
		if c, err := cpuTime(srv.pid()); err == nil && cpu0[i] > 0 {
			rep.cpuPerCall[subjects[i]] = float64(c-cpu0[i]) / float64(time.Millisecond) / float64(calls)
		}
	}
	// For scale: a ping, which only the stdio transport handles.
	for i, srv := range servers {
		for range max(10, calls/4) {
			line, id := srv.request("ping", map[string]any{})
			t0 := time.Now()
			if _, err := srv.roundTrip(line, id); err != nil {
				return err
			}
			rep.ping[subjects[i]] = append(rep.ping[subjects[i]], time.Since(t0))
		}
	}
	rep.afterCalls = map[*subject]memStatus{}
	for i, srv := range servers {
		if m, err := readMem(srv.pid()); err == nil {
			rep.afterCalls[subjects[i]] = m
		}
	}
	return nil
}

// hostedRun is one server's throughput figures in one mode.
type hostedRun struct {
	mode      string
	perSecond []float64
	latencies []time.Duration
	mem       memStatus
	calls     int
}

func measureHosted(rep *report, subjects []*subject, o options) error {
	modes := [][]string{nil}
	if o.stateless {
		modes = append(modes, []string{"--stateless"})
	}
	warm := time.Second
	if o.quick {
		warm = 200 * time.Millisecond
	}
	var ours []*subject
	for _, s := range subjects {
		if !s.peer { // the official server is stdio only
			ours = append(ours, s)
		}
	}
	for _, extra := range modes {
		mode := "sessions"
		if len(extra) > 0 {
			mode = "stateless"
		}
		// Each server runs its own process; runs alternate between servers,
		// so a change in the machine's load is shared among them.
		servers := make([]*httpServer, len(ours))
		runs := make([]*hostedRun, len(ours))
		defer func() {
			for _, srv := range servers {
				if srv != nil {
					srv.close()
				}
			}
		}()
		for i, s := range ours {
			srv, err := startHTTP(s.name, s.httpCmd(extra...))
			if err != nil {
				return err
			}
			servers[i], runs[i] = srv, &hostedRun{mode: mode}
		}
		for r := range o.tpRuns {
			for j := range ours {
				i := (r + j) % len(ours)
				logf("hosted throughput: %s, %s, %d clients, run %d of %d, %s", ours[i].name, mode, o.clients, r+1, o.tpRuns, o.duration)
				res, err := runLoad(servers[i], o.clients, warm, o.duration)
				if err != nil {
					return err
				}
				hr := runs[i]
				hr.perSecond = append(hr.perSecond, res.perSecond)
				hr.latencies = append(hr.latencies, res.latencies...)
				hr.calls += res.calls
				hr.mem = res.mem
				logf("  %.0f calls/s; server resident size after the run %s (peak %s)", res.perSecond, mbytes(res.mem.RSS), mbytes(res.mem.HWM))
			}
		}
		for i, srv := range servers {
			srv.close()
			servers[i] = nil
			rep.hosted = append(rep.hosted, subjectFigure[*hostedRun]{ours[i], runs[i]})
		}
	}
	return nil
}

// mediaCase is one large-media call.
type mediaCase struct {
	label  string
	bytes  int     // the media's size
	target float64 // the most extra memory per byte of media; 0: targetMediaFactor
	args   func(dir string) (map[string]any, error)
	want   string
}

// mediaFigure is the memory one media case took.
type mediaFigure struct {
	c          *mediaCase
	extra      []float64 // peak resident size during the call minus before it, bytes
	idle       []float64
	took       []time.Duration
	respBytes  int
	hwmCleared bool
}

func measureMedia(rep *report, fk *fake, subjects []*subject, runs int, verbose bool) error {
	audioPath := "bench-audio.wav"
	cases := []*mediaCase{
		{label: fmt.Sprintf("transcription: %.1f MB WAV as a local file", float64(uploadBytes)/1e6), bytes: uploadBytes, target: 3, want: sttText,
			args: func(dir string) (map[string]any, error) {
				if err := os.WriteFile(filepath.Join(dir, audioPath), fk.audio, 0o644); err != nil {
					return nil, err
				}
				return map[string]any{"model": sttModel, "file": map[string]any{"url": audioPath}}, nil
			}},
		{label: fmt.Sprintf("transcription: %.1f MB WAV as a data: URL", float64(uploadBytes)/1e6), bytes: uploadBytes, target: 3, want: sttText,
			args: func(string) (map[string]any, error) {
				return map[string]any{"model": sttModel, "file": map[string]any{"url": "data:audio/wav;base64," + b64(fk.audio), "name": "bench.wav"}}, nil
			}},
		{label: fmt.Sprintf("createImage: %d × %d² PNG (%.1f MB) from b64_json, returned inline", imageCount, imageSide, float64(fk.imageBytes)/1e6),
			bytes: fk.imageBytes, want: `"type":"image"`,
			args: func(string) (map[string]any, error) { return imageArgs("inline"), nil }},
		{label: fmt.Sprintf("createImage: %d × %d² PNG (%.1f MB) from b64_json, saved to files", imageCount, imageSide, float64(fk.imageBytes)/1e6),
			bytes: fk.imageBytes, want: "saved to",
			args: func(string) (map[string]any, error) { return imageArgs("file"), nil }},
	}
	names := map[*mediaCase]string{cases[0]: "createTranscription", cases[1]: "createTranscription", cases[2]: "createImage", cases[3]: "createImage"}
	var ours []*subject
	for _, s := range subjects {
		if !s.peer { // it has no transcription tool, and returns images as URLs or resources
			ours = append(ours, s)
		}
	}
	figs := map[*subject]map[*mediaCase]*mediaFigure{}
	for _, s := range ours {
		figs[s] = map[*mediaCase]*mediaFigure{}
		for _, c := range cases {
			figs[s][c] = &mediaFigure{c: c}
		}
	}
	for _, c := range cases {
		logf("media: %s, %d fresh process(es) per server", c.label, runs)
		for r := range runs { // alternate between servers, as for throughput
			for j := range ours {
				s := ours[(r+j)%len(ours)]
				if err := mediaOnce(s, c, names[c], figs[s][c], verbose); err != nil {
					return err
				}
			}
		}
	}
	for _, s := range ours {
		for _, c := range cases {
			rep.media = append(rep.media, subjectFigure[*mediaFigure]{s, figs[s][c]})
		}
	}
	return nil
}

// mediaOnce starts a fresh server, warms it with one ask call, and measures
// the memory one media call takes.
func mediaOnce(s *subject, c *mediaCase, tool string, mf *mediaFigure, verbose bool) error {
	args, err := c.args(s.dir)
	if err != nil {
		return err
	}
	srv, err := startStdio(s.name, s.stdioCmd())
	if err != nil {
		return err
	}
	err = func() error {
		if _, err := srv.initialize(time.Now()); err != nil {
			return err
		}
		if _, err := srv.call("tools/list", map[string]any{}); err != nil {
			return err
		}
		if res, err := srv.call("tools/call", askParams()); err != nil || toolResult(res, chatAnswer) != nil {
			return fmt.Errorf("warm-up ask: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
		// Reset the peak (VmHWM) to the current size, where the kernel allows it.
		mf.hwmCleared = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", srv.pid()), []byte("5"), 0) == nil
		before, memErr := readMem(srv.pid()) // no figure without /proc, but the call is still checked
		line, id := srv.request("tools/call", map[string]any{"name": tool, "arguments": args})
		t0 := time.Now()
		resp, err := srv.roundTrip(line, id)
		took := time.Since(t0)
		if err != nil {
			return err
		}
		after, err := readMem(srv.pid())
		if memErr == nil {
			memErr = err
		}
		res, err := resultOf(resp)
		if err == nil {
			err = toolResult(res, c.want)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", s.name, c.label, err)
		}
		if memErr == nil {
			mf.extra = append(mf.extra, after.HWM-before.RSS)
			mf.idle = append(mf.idle, before.RSS)
		}
		mf.took = append(mf.took, took)
		mf.respBytes = len(resp)
		return nil
	}()
	srv.close()
	if verbose {
		logf("%s stderr:\n%s", s.name, srv.stderr.String())
	}
	return err
}

func imageArgs(output string) map[string]any {
	return map[string]any{"model": imageModel, "imageMessages": []any{map[string]any{"content": "a lighthouse at dusk"}},
		"n": imageCount, "size": fmt.Sprintf("%dx%d", imageSide, imageSide), "output": output}
}
