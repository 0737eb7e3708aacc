package main

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// report holds every figure of a run and renders them as Markdown.
type report struct {
	opts                  options
	machine               map[string]string
	loadBefore, loadAfter string
	started               time.Time
	took                  time.Duration

	ours, baseline, peer *subject
	peerNote             string

	toolsList  []subjectFigure[toolsListFigure]
	startup    map[*subject][]time.Duration
	idle       map[*subject][]float64
	askRTT     map[*subject][]time.Duration
	direct     map[*subject][]time.Duration // the direct requests paired with each server's calls
	directBody string
	afterCalls map[*subject]memStatus
	ping       map[*subject][]time.Duration
	cpuPerCall map[*subject]float64 // ms of server CPU per ask call
	hosted     []subjectFigure[*hostedRun]
	media      []subjectFigure[*mediaFigure]
}

// Targets of the issue, on a 2-core machine. Sizes are decimal: 1 MB = 10⁶
// bytes, 1 KB = 10³ bytes (the stricter reading).
const (
	targetStartupMS     = 20.0
	targetAddedMedianMS = 0.3
	targetAddedP99MS    = 1.0
	targetCallsPerSec   = 2000.0
	targetIdleBytes     = 20e6
	targetMediaFactor   = 4.0
	targetToolsListSize = 12000
)

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

func mbytes(b float64) string {
	if math.IsNaN(b) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB", b/1e6)
}

func status(ok bool, miss string) string {
	if ok {
		return "met"
	}
	return "**missed** (" + miss + ")"
}

func (r *report) command() string {
	var args []string // without -out, which only says where this went
	for i := 1; i < len(os.Args); i++ {
		switch a := os.Args[i]; {
		case a == "-out" || a == "--out":
			i++
		case strings.HasPrefix(a, "-out=") || strings.HasPrefix(a, "--out="):
		default:
			args = append(args, a)
		}
	}
	return strings.TrimSpace("go run ./bench " + strings.Join(args, " "))
}

func (r *report) write(w io.Writer) {
	m := r.machine
	fmt.Fprintf(w, "### Run of %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- Command: `%s` (took %s)\n", r.command(), r.took.Round(time.Second))
	fmt.Fprintf(w, "- Machine: %s CPUs (%s), %s RAM, %s, kernel %s, %s\n", m["cpus"], orNA(m["cpu"]), orNA(m["memory"]), m["os"], orNA(m["kernel"]), m["go"])
	fmt.Fprintf(w, "- Load average (1, 5, 15 min) before: %s; after: %s\n", orNA(r.loadBefore), orNA(r.loadAfter))
	fmt.Fprintf(w, "- Servers: nanogpt-mcp %s", orNA(r.ours.version))
	if buildDesc != "" && r.opts.bin == "" {
		fmt.Fprintf(w, " (built from %s)", buildDesc)
	}
	if r.baseline != nil {
		fmt.Fprintf(w, "; baseline %s (%s)", orNA(r.baseline.version), r.baseline.path)
	}
	if r.peer != nil {
		fmt.Fprintf(w, "; official: %s (chat tool `%s`)", r.peer.version, r.peer.askTool)
	} else {
		fmt.Fprintf(w, "; official server: %s", r.peerNote)
	}
	fmt.Fprintf(w, "\n- Fake NanoGPT: in-process on loopback, answers at once")
	if r.directBody != "" {
		fmt.Fprintf(w, "; the direct request is the very body nanogpt-mcp sends for the ask call (%d bytes)", len(r.directBody))
	}
	fmt.Fprintf(w, "\n\n")

	// Latency.
	st := durations(r.startup[r.ours])
	rt, dr := durations(r.askRTT[r.ours]), durations(r.direct[r.ours])
	if len(st) > 0 || len(rt) > 0 {
		fmt.Fprintf(w, "#### Start-up and added latency (stdio)\n\n")
		fmt.Fprintf(w, "| Figure | n | median | p90 | p99 | target | status |\n|---|---:|---:|---:|---:|---|---|\n")
	}
	if len(st) > 0 {
		fmt.Fprintf(w, "| start-up: spawn until the initialize response | %d | %s | %s | %s | ≤ %.0f ms median | %s |\n", len(st), ms(st.median()), ms(st.p90()), ms(st.p99()),
			targetStartupMS, status(st.median() <= targetStartupMS, fmt.Sprintf("by %s", ms(st.median()-targetStartupMS))))
	}
	if len(rt) > 0 {
		fmt.Fprintf(w, "| ask round trip through nanogpt-mcp | %d | %s | %s | %s | | |\n", len(rt), ms(rt.median()), ms(rt.p90()), ms(rt.p99()))
		fmt.Fprintf(w, "| the same chat request straight to the fake | %d | %s | %s | %s | | |\n", len(dr), ms(dr.median()), ms(dr.p90()), ms(dr.p99()))
		addMed, addP90, addP99 := rt.median()-dr.median(), rt.p90()-dr.p90(), rt.p99()-dr.p99()
		var miss []string
		if addMed > targetAddedMedianMS {
			miss = append(miss, fmt.Sprintf("median by %s", ms(addMed-targetAddedMedianMS)))
		}
		if addP99 > targetAddedP99MS {
			miss = append(miss, fmt.Sprintf("p99 by %s", ms(addP99-targetAddedP99MS)))
		}
		fmt.Fprintf(w, "| added latency (through − direct, per quantile) | | %s | %s | %s | ≤ %.1f ms median, ≤ %.0f ms p99 | %s |\n", ms(addMed), ms(addP90), ms(addP99),
			targetAddedMedianMS, targetAddedP99MS, status(len(miss) == 0, strings.Join(miss, ", ")))
		fmt.Fprintf(w, "| ratio through / direct | | %s | %s | %s | | |\n", ratio(rt.median(), dr.median()), ratio(rt.p90(), dr.p90()), ratio(rt.p99(), dr.p99()))
		if p := durations(r.ping[r.ours]); len(p) > 0 {
			fmt.Fprintf(w, "| for scale: a ping round trip (the stdio transport alone) | %d | %s | %s | %s | | |\n", len(p), ms(p.median()), ms(p.p90()), ms(p.p99()))
		}
		if c, ok := r.cpuPerCall[r.ours]; ok {
			fmt.Fprintf(w, "| for scale: server CPU time per ask call (all threads) | %d | %s (mean) | | | | |\n", len(rt), ms(c))
		}
	}
	if len(st) > 0 || len(rt) > 0 {
		fmt.Fprintln(w)
	}

	// Hosted.
	if len(r.hosted) > 0 {
		r.writeHosted(w)
	}
	r.writeMemory(w)
	r.writeToolsList(w)
	if r.peer != nil {
		r.writeVersus(w, r.peer, "Comparison with the official server ("+r.peer.version+")", "official / nanogpt-mcp")
	}
	if r.baseline != nil {
		r.writeVersus(w, r.baseline, "Comparison with the baseline binary", "baseline / nanogpt-mcp")
	}
}

func (r *report) writeHosted(w io.Writer) {
	o := r.opts
	fmt.Fprintf(w, "#### Hosted throughput (streamable HTTP, %d clients, each a session calling ask back to back)\n\n", o.clients)
	fmt.Fprintf(w, "| Server, mode | runs × length | calls/s (median of runs) | calls/s (min–max) | latency median | p90 | p99 | RSS after | peak RSS | target | status |\n")
	fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, h := range r.hosted {
		ps := sample(h.f.perSecond)
		lat := durations(h.f.latencies)
		fmt.Fprintf(w, "| %s, %s | %d × %s | %.0f | %.0f–%.0f | %s | %s | %s | %s | %s | ≥ %.0f calls/s | %s |\n", h.s.name, h.f.mode, len(ps), o.duration,
			ps.median(), ps.q(0), ps.max(), ms(lat.median()), ms(lat.p90()), ms(lat.p99()), mbytes(h.f.mem.RSS), mbytes(h.f.mem.HWM),
			targetCallsPerSec, status(ps.median() >= targetCallsPerSec, fmt.Sprintf("by %.0f calls/s", targetCallsPerSec-ps.median())))
	}
	fmt.Fprintln(w)
}

func (r *report) writeMemory(w io.Writer) {
	o := r.opts
	idle := sample(r.idle[r.ours])
	if len(idle) == 0 && len(r.media) == 0 && len(r.hosted) == 0 && len(r.afterCalls) == 0 {
		return
	}
	fmt.Fprintf(w, "#### Memory (resident set size, from /proc/<pid>/status)\n\n")
	fmt.Fprintf(w, "| Figure | n | median | max | target | status |\n|---|---:|---:|---:|---|---|\n")
	if len(idle) > 0 {
		fmt.Fprintf(w, "| idle: after initialize and tools/list | %d | %s | %s | ≤ %s | %s |\n", len(idle), mbytes(idle.median()), mbytes(idle.max()),
			mbytes(targetIdleBytes), status(idle.median() <= targetIdleBytes, "by "+mbytes(idle.median()-targetIdleBytes)))
	}
	if mem, ok := r.afterCalls[r.ours]; ok {
		fmt.Fprintf(w, "| after %d ask calls over stdio (VmRSS; peak VmHWM) | 1 | %s | %s | | |\n", o.warmup+o.calls, mbytes(mem.RSS), mbytes(mem.HWM))
	}
	for _, h := range r.hosted {
		if h.s == r.ours {
			fmt.Fprintf(w, "| after the hosted runs, %s (VmRSS; peak VmHWM) | 1 | %s | %s | | |\n", h.f.mode, mbytes(h.f.mem.RSS), mbytes(h.f.mem.HWM))
		}
	}
	for _, mf := range r.media {
		if mf.s != r.ours {
			continue
		}
		ex := sample(mf.f.extra)
		if len(ex) == 0 {
			continue // no /proc
		}
		size := float64(mf.f.c.bytes)
		target := cmp.Or(mf.f.c.target, targetMediaFactor)
		fmt.Fprintf(w, "| extra while handling %s | %d | %s = %.2f× | %s = %.2f× | ≤ %.0f× the media | %s |\n", mf.f.c.label, len(ex),
			mbytes(ex.median()), ex.median()/size, mbytes(ex.max()), ex.max()/size, target,
			status(ex.median()/size <= target, fmt.Sprintf("by %.2f×", ex.median()/size-target)))
	}
	fmt.Fprintln(w)
	if len(r.media) > 0 {
		fmt.Fprintf(w, "Extra memory is the peak resident size during the one call (VmHWM, reset just before it%s) minus the resident size just before it, in a fresh process; × is per byte of media.\n\n",
			map[bool]string{true: "", false: " where the kernel allows; here it did not, so the peak since start-up"}[r.media[0].f.hwmCleared])
	}

}

func (r *report) writeToolsList(w io.Writer) {
	if len(r.toolsList) == 0 {
		return
	}
	fmt.Fprintf(w, "#### tools/list result (spent from the assistant's context every session)\n\n")
	fmt.Fprintf(w, "| Server | tools | bytes | parameters | without a description | target | status |\n|---|---|---:|---:|---:|---|---|\n")
	for _, t := range r.toolsList {
		if t.s == r.baseline {
			continue
		}
		undesc := fmt.Sprint(len(t.f.undescribed))
		if len(t.f.undescribed) > 0 && !t.s.peer {
			undesc += ": " + strings.Join(t.f.undescribed, ", ")
		}
		target, st := fmt.Sprintf("≤ %d bytes, all described", targetToolsListSize),
			status(t.f.bytes <= targetToolsListSize && len(t.f.undescribed) == 0, toolsMiss(t.f))
		if t.s.peer {
			target, st = "(for comparison)", ""
		}
		fmt.Fprintf(w, "| %s | %d: %s | %d | %d | %s | %s | %s |\n", t.s.name, t.f.tools, t.f.label, t.f.bytes, t.f.params, undesc, target, st)
	}
	fmt.Fprintln(w)
}

func toolsMiss(f toolsListFigure) string {
	var s []string
	if f.bytes > targetToolsListSize {
		s = append(s, fmt.Sprintf("by %d bytes", f.bytes-targetToolsListSize))
	}
	if len(f.undescribed) > 0 {
		s = append(s, fmt.Sprintf("%d undescribed", len(f.undescribed)))
	}
	return strings.Join(s, ", ")
}

// writeVersus compares other with ours, as ratios other / ours.
func (r *report) writeVersus(w io.Writer, other *subject, title, ratioLabel string) {
	fmt.Fprintf(w, "#### %s\n\n", title)
	fmt.Fprintf(w, "| Figure | nanogpt-mcp | %s | %s |\n|---|---:|---:|---:|\n", other.name, ratioLabel)
	if a, b := durations(r.startup[r.ours]), durations(r.startup[other]); len(a) > 0 && len(b) > 0 {
		fmt.Fprintf(w, "| start-up to initialize response, median | %s | %s | %s |\n", ms(a.median()), ms(b.median()), ratio(b.median(), a.median()))
		fmt.Fprintf(w, "| start-up to initialize response, p99 | %s | %s | %s |\n", ms(a.p99()), ms(b.p99()), ratio(b.p99(), a.p99()))
	}
	if a, b := durations(r.askRTT[r.ours]), durations(r.askRTT[other]); len(a) > 0 && len(b) > 0 {
		da, db := durations(r.direct[r.ours]), durations(r.direct[other])
		fmt.Fprintf(w, "| chat round trip (ask / %s), median | %s | %s | %s |\n", other.askTool, ms(a.median()), ms(b.median()), ratio(b.median(), a.median()))
		fmt.Fprintf(w, "| chat round trip, p99 | %s | %s | %s |\n", ms(a.p99()), ms(b.p99()), ratio(b.p99(), a.p99()))
		fmt.Fprintf(w, "| the paired direct request, median | %s | %s | %s |\n", ms(da.median()), ms(db.median()), ratio(db.median(), da.median()))
		fmt.Fprintf(w, "| added latency over the direct request, median | %s | %s | %s |\n", ms(a.median()-da.median()), ms(b.median()-db.median()), ratio(b.median()-db.median(), a.median()-da.median()))
		fmt.Fprintf(w, "| added latency over the direct request, p99 | %s | %s | %s |\n", ms(a.p99()-da.p99()), ms(b.p99()-db.p99()), ratio(b.p99()-db.p99(), a.p99()-da.p99()))
		if ca, cb := r.cpuPerCall[r.ours], r.cpuPerCall[other]; ca > 0 && cb > 0 {
			fmt.Fprintf(w, "| server CPU time per chat call | %s | %s | %s |\n", ms(ca), ms(cb), ratio(cb, ca))
		}
	}
	if ia, ib := sample(r.idle[r.ours]), sample(r.idle[other]); len(ia) > 0 && len(ib) > 0 {
		fmt.Fprintf(w, "| idle RSS, median | %s | %s | %s |\n", mbytes(ia.median()), mbytes(ib.median()), ratio(ib.median(), ia.median()))
	}
	if ma, mb := r.afterCalls[r.ours], r.afterCalls[other]; ma.RSS > 0 && mb.RSS > 0 {
		fmt.Fprintf(w, "| RSS after the chat round trips | %s | %s | %s |\n", mbytes(ma.RSS), mbytes(mb.RSS), ratio(mb.RSS, ma.RSS))
	}
	var ta, tb toolsListFigure
	for _, t := range r.toolsList {
		if t.s == r.ours && ta.label == "" {
			ta = t.f
		}
		if t.s == other && tb.label == "" {
			tb = t.f
		}
	}
	if ta.label != "" && tb.label != "" {
		fmt.Fprintf(w, "| tools/list bytes (tools) | %d (%d) | %d (%d) | %s |\n", ta.bytes, ta.tools, tb.bytes, tb.tools, ratio(float64(tb.bytes), float64(ta.bytes)))
	}
	if other == r.baseline {
		for _, h := range r.hosted {
			if h.s != other {
				continue
			}
			for _, g := range r.hosted {
				if g.s == r.ours && g.f.mode == h.f.mode {
					pa, pb := sample(g.f.perSecond), sample(h.f.perSecond)
					la, lb := durations(g.f.latencies), durations(h.f.latencies)
					fmt.Fprintf(w, "| hosted calls/s, %s | %.0f | %.0f | %s |\n", h.f.mode, pa.median(), pb.median(), ratio(pb.median(), pa.median()))
					fmt.Fprintf(w, "| hosted p99 latency, %s | %s | %s | %s |\n", h.f.mode, ms(la.p99()), ms(lb.p99()), ratio(lb.p99(), la.p99()))
				}
			}
		}
		for _, mb := range r.media {
			if mb.s != other {
				continue
			}
			for _, ma := range r.media {
				if ma.s == r.ours && ma.f.c == mb.f.c {
					ea, eb := sample(ma.f.extra), sample(mb.f.extra)
					if len(ea) == 0 || len(eb) == 0 {
						continue
					}
					fmt.Fprintf(w, "| extra memory, %s: median (min–max) | %s (%s–%s) | %s (%s–%s) | %s |\n", ma.f.c.label,
						mbytes(ea.median()), mbytes(ea.q(0)), mbytes(ea.max()), mbytes(eb.median()), mbytes(eb.q(0)), mbytes(eb.max()), ratio(eb.median(), ea.median()))
				}
			}
		}
	}
	fmt.Fprintln(w)
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}
