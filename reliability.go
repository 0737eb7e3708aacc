package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// reliabilityConfig holds the per-tool time limits and the retry policy.
type reliabilityConfig struct {
	toolTimeouts map[string]time.Duration // tool name → limit; absent: --timeout
	retry        nanogpt.RetryPolicy
	poll         nanogpt.PollOptions // job polling; the client's defaults (set by tests only)

	timeoutS map[string]*string
	retriesS string
	maxWaitS string
	pollS    string
}

// toolTimeoutFlags are the tools with their own time limit, and its default
// ("" means --timeout). Images and speech take long; transcription of a long
// recording too.
func toolTimeoutFlags() []struct{ tool, flag, def string } {
	return []struct{ tool, flag, def string }{
		{"ask", "ask-timeout", ""},
		{"createImage", "image-timeout", "10m"},
		{"createSpeech", "speech-timeout", "10m"},
		{"createTranscription", "transcription-timeout", "10m"},
	}
}

// envName is a flag's environment twin: NANOGPT_MCP_ and the name in capitals.
func envName(flagName string) string {
	return "NANOGPT_MCP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (r *reliabilityConfig) addFlags(fs *flag.FlagSet, env func(name, def string) string) {
	r.timeoutS = map[string]*string{}
	for _, t := range toolTimeoutFlags() {
		what := "NanoGPT's answer, retries, job polling and the download"
		if t.tool == "ask" {
			what = "the answer and any retries; default: --timeout"
		}
		r.timeoutS[t.tool] = fs.String(t.flag, env(envName(t.flag), t.def),
			"`duration` one "+t.tool+" call may take in all ("+what+"); running out is an upstream_timeout error [$"+envName(t.flag)+"]")
	}
	fs.StringVar(&r.retriesS, "retries", env("NANOGPT_MCP_RETRIES", "2"), "`n` times a NanoGPT request is repeated after HTTP 408, 429, 500, 502, 503 or 504 or a failed connection, with exponential backoff and jitter, within the call's time limit (0: never). Accepted jobs and begun streams are never repeated [$NANOGPT_MCP_RETRIES]")
	fs.StringVar(&r.pollS, "poll-interval", env("NANOGPT_MCP_POLL_INTERVAL", ""), "`duration` between two status checks of an asynchronous NanoGPT job (speech, transcription). Default: NanoGPT's advice for each kind, 3s for speech and 5s for transcription [$NANOGPT_MCP_POLL_INTERVAL]")
	fs.StringVar(&r.maxWaitS, "retry-max-wait", env("NANOGPT_MCP_RETRY_MAX_WAIT", "30s"), "`duration`: the longest wait before one retry; a Retry-After beyond it is not waited for, the call fails with rate_limited instead [$NANOGPT_MCP_RETRY_MAX_WAIT]")
}

func (r *reliabilityConfig) check() error {
	r.toolTimeouts = map[string]time.Duration{}
	for _, t := range toolTimeoutFlags() {
		v := strings.TrimSpace(*r.timeoutS[t.tool])
		if v == "" {
			continue
		}
		d, err := positiveDuration("--"+t.flag, v)
		if err != nil {
			return err
		}
		r.toolTimeouts[t.tool] = d
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.retriesS))
	if err != nil || n < 0 || n > 10 {
		return fmt.Errorf("--retries: %q is not a whole number from 0 to 10", r.retriesS)
	}
	wait, err := positiveDuration("--retry-max-wait", r.maxWaitS)
	if err != nil {
		return err
	}
	r.retry = nanogpt.RetryPolicy{Retries: n, MaxDelay: wait}
	if v := strings.TrimSpace(r.pollS); v != "" {
		if r.poll.Interval, err = positiveDuration("--poll-interval", v); err != nil {
			return err
		}
	}
	return nil
}

// limits are the tools' time limits: each one's own, else def (--timeout).
func (r *reliabilityConfig) limits(def time.Duration) map[string]tools.Limit {
	out := map[string]tools.Limit{"": {Time: def, Setting: "--timeout (NANOGPT_MCP_TIMEOUT)"}}
	for _, t := range toolTimeoutFlags() {
		setting := "--" + t.flag + " (" + envName(t.flag) + ")"
		if d, ok := r.toolTimeouts[t.tool]; ok {
			out[t.tool] = tools.Limit{Time: d, Setting: setting}
		} else {
			out[t.tool] = tools.Limit{Time: def, Setting: setting + " or --timeout (NANOGPT_MCP_TIMEOUT)"}
		}
	}
	return out
}
