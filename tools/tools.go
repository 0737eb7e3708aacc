// Package tools holds the MCP tools: their inputs, validation, the calls to
// NanoGPT, and how results (text, JSON, media) go back to the client. Each
// tool is declared once, in its own file (see toolset).
package tools

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/media"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/schemas"
)

// Deps is what the tools need; main builds it from configuration.
type Deps struct {
	// Client returns the NanoGPT client for a call: the server's own, or, when
	// hosted with per-caller keys, one that carries the caller's key.
	Client func(ctx context.Context) (*nanogpt.Client, error)
	Files  Files
	Media  Media
	Logger *slog.Logger
	// Poll bounds the waiting for NanoGPT's asynchronous jobs (speech,
	// transcription). Zero fields take the client's defaults; OnPoll is set
	// per call (for progress notifications).
	Poll nanogpt.PollOptions
	// Timeouts bounds each call of a tool, by tool name; the "" entry applies to
	// tools without their own. The whole call is bounded: NanoGPT's answer,
	// retries, job polling and downloads. Running out is an upstream_timeout
	// error naming the limit and its Setting.
	Timeouts map[string]Limit
	// Heartbeat is how often a call sends a progress notification when the
	// client asked for progress and nothing else was sent; 0 means 5 seconds.
	Heartbeat time.Duration
	// JobWait is how long a call waits for its asynchronous NanoGPT job
	// before it answers with the job's id for getJob (the calls' wait
	// parameter overrides it); 0 means 50 seconds.
	JobWait time.Duration
	// Owner names the caller of a call, whose jobs and media are theirs
	// alone (hosted); nil or "" over stdio, where there is one.
	Owner func(ctx context.Context) string
	// Tasks is set when the server runs tool calls as MCP tasks (2025-11-25)
	// for clients that ask: the job tools then declare that they can be.
	// Lifetime ends the calls that run as tasks (the server's shutdown).
	Tasks    bool
	Lifetime context.Context
	// Store keeps every generated file the server has the bytes of, as an
	// MCP resource (and, hosted, behind a download link); nil: none.
	Store *media.Store

	jobs       *jobs                 // the jobs that outlasted their calls
	registered map[string]definition // the tools served, by name
}

// Spec describes a tool: what the server advertises of it, and the settings
// it brings (the root package derives the flags, --help and the server's
// instructions from the specs).
type Spec struct {
	Name        string
	Title       string
	Description string
	// Summary says what the tool does in a few words (the server's
	// instructions, --help).
	Summary    string
	ReadOnly   bool // it changes nothing (annotations)
	Idempotent bool // calling it again gives the same (annotations)
	// Flag prefixes the tool's own settings: <Flag>-timeout, and
	// <Flag>-model when it takes a model. Empty: none (--timeout applies).
	Flag string
	// Timeout is the default of <Flag>-timeout; 0 means --timeout.
	Timeout time.Duration
	// TakesModel is set for tools with a model parameter, which then may
	// have a default model (<Flag>-model).
	TakesModel bool
	Input      any // pointer to the input struct (schema reflection)
	Output     any // pointer to the output struct
}

// toolset is the set of tools. Each tool is one method of it, in the tool's
// own file, that returns its declaration: adding a tool is adding its file,
// then go generate writes toolset_gen.go, the list of the methods (a test
// fails when it is stale). The list is generated rather than found by
// reflection at run time because reflect's Method keeps every exported method
// of every type in the binary: 3.3 MB more, and 1.7 MB more resident memory.
// Methods are called anew for each server, so a tool's state (listModels'
// cache) is never shared between servers.
type toolset struct{}

//go:generate go test . -run TestToolsetList -update

// definitions returns every tool, sorted by name.
func definitions() []definition {
	out := toolset{}.all()
	slices.SortFunc(out, func(a, b definition) int { return strings.Compare(a.spec().Name, b.spec().Name) })
	return out
}

// Specs lists every tool, for configuration, schema generation, documentation and tests.
func Specs() []Spec {
	var out []Spec
	for _, d := range definitions() {
		out = append(out, d.spec())
	}
	return out
}

// Names lists every tool's name, in the order they are advertised.
func Names() []string {
	var out []string
	for _, s := range Specs() {
		out = append(out, s.Name)
	}
	return out
}

// Register adds the tools to s: all of them, or those named in only.
// defaultModels maps a tool name to the model used when a call gives none;
// that tool's model parameter is then optional in its advertised schema.
func Register(s *server.MCPServer, d Deps, only []string, defaultModels map[string]string) error {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	defs := definitions()
	d.jobs, d.registered = &jobs{}, map[string]definition{}
	known := map[string]bool{}
	for _, def := range defs {
		known[def.spec().Name] = def.spec().TakesModel
	}
	for _, name := range only {
		if _, ok := known[name]; !ok {
			return fmt.Errorf("unknown tool %q (tools: %s)", name, strings.Join(Names(), ", "))
		}
	}
	for name := range defaultModels {
		if !known[name] {
			return fmt.Errorf("default model for %q, which is no tool with a model parameter", name)
		}
	}
	for _, def := range defs {
		name := def.spec().Name
		if len(only) > 0 && !slices.Contains(only, name) {
			continue
		}
		st, err := def.serverTool(&d, defaultModels[name])
		if err != nil {
			return err
		}
		d.registered[name] = def
		s.AddTools(st)
	}
	if d.Store != nil {
		addMediaResources(s, &d)
	}
	return nil
}

type definition interface {
	spec() Spec
	serverTool(d *Deps, defaultModel string) (server.ServerTool, error)
	// resume waits for a job of this tool that outlasted its call, and
	// finishes the call's work: the same result the call would have given.
	resume(ctx context.Context, c *call, rec *jobRecord) (any, []mcp.Content, error)
}

// tool is one tool's declaration: its spec, how to run it, and where its
// model parameter is (nil: it has none). run returns the structured result,
// of the output type the schema describes, and the content blocks (a text
// summary of the result is the tool's to write).
//
// A tool whose NanoGPT job may outlast the call has waitJob and wait: when
// run stops waiting for a job that still runs (wait's budget, or the time
// limit), the call answers with the job's id (Out embeds Pending), and
// getJob later calls waitJob, which waits for the job again and finishes
// the work as run would have.
type tool[In, Out any] struct {
	Spec
	keyOptional bool      // the call works without a NanoGPT key (listModels)
	media       mediaKind // how its media comes back (the media tools)
	model       func(in *In) *string
	wait        func(in *In) *int // the call's wait parameter (seconds), for job tools and getJob
	run         func(ctx context.Context, c *call, in *In) (*Out, []mcp.Content, error)
	waitJob     func(ctx context.Context, c *call, in *In, job nanogpt.Job) (*Out, []mcp.Content, error)
}

// call is what a run function gets besides its input.
type call struct {
	client   *nanogpt.Client
	deps     *Deps
	progress *progress // nil when the client did not ask for progress
	media    mediaKind
	owner    string        // whose call it is (hosted), for jobs and media
	wait     time.Duration // how long to wait for a NanoGPT job
}

func (t tool[In, Out]) spec() Spec {
	s := t.Spec
	s.Input, s.Output, s.TakesModel = new(In), new(Out), t.model != nil
	return s
}

func (t tool[In, Out]) resume(ctx context.Context, c *call, rec *jobRecord) (any, []mcp.Content, error) {
	if t.waitJob == nil {
		return nil, nil, fmt.Errorf("%s starts no jobs", t.Name)
	}
	in := new(In)
	if err := json.Unmarshal(rec.args, in); err != nil {
		return nil, nil, fmt.Errorf("the arguments of job %s: %w", rec.id, err)
	}
	rc := *c
	rc.media = t.media
	out, content, err := t.waitJob(ctx, &rc, in, rec.job)
	if err != nil {
		return nil, nil, err
	}
	return out, content, nil
}

func (t tool[In, Out]) serverTool(d *Deps, defaultModel string) (server.ServerTool, error) {
	if _, ok := any(new(Out)).(jobHolder); t.waitJob != nil && !ok {
		return server.ServerTool{}, fmt.Errorf("tools: %s waits for jobs, so its output must embed Pending", t.Name)
	}
	in, err := schemas.Committed(t.Name, "in")
	if err != nil {
		return server.ServerTool{}, err
	}
	description := t.Description
	if defaultModel != "" {
		if in, err = schemas.WithDefaultModel(in, defaultModel); err != nil {
			return server.ServerTool{}, fmt.Errorf("tools: %s: %w", t.Name, err)
		}
		description += " The model defaults to " + defaultModel + "."
	}
	validator, err := schemas.Parse(in)
	if err != nil {
		return server.ServerTool{}, fmt.Errorf("tools: %s: %w", t.Name, err)
	}
	mt := mcp.NewToolWithRawSchema(t.Name, description, in)
	if mt.RawOutputSchema, err = schemas.Committed(t.Name, "out"); err != nil {
		return server.ServerTool{}, err
	}
	if t.waitJob != nil && d.Tasks {
		mt.Execution = &mcp.ToolExecution{TaskSupport: mcp.TaskSupportOptional}
	}
	mt.Annotations = mcp.ToolAnnotation{
		Title:           t.Title,
		ReadOnlyHint:    mcp.ToBoolPtr(t.ReadOnly),
		DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint:  mcp.ToBoolPtr(t.Idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(true),
	}
	return server.ServerTool{Tool: mt, Handler: t.handler(d, validator, defaultModel)}, nil
}

// handler validates and decodes the arguments, runs the tool, and turns every
// failure (bad input, NanoGPT errors, panics) into an isError result.
func (t tool[In, Out]) handler(d *Deps, validator *schemas.Schema, defaultModel string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				d.Logger.Error("tool panicked", "tool", t.Name, "panic", r, "stack", string(debug.Stack()))
				res, err = errorResult(&Failure{Code: CodeInternal, Message: fmt.Sprintf("internal error in %s: %v", t.Name, r),
					Next: "This is a bug in nanogpt-mcp; please report it. Other calls are unaffected."}), nil
			}
		}()
		in, f := decodeArgs[In](validator, req)
		if f == nil && defaultModel != "" && t.model != nil {
			if m := t.model(in); *m == "" {
				*m = defaultModel
			}
		}
		if f == nil {
			res, f = t.execute(ctx, d, req, in)
		}
		if f != nil {
			d.Logger.Info("tool call failed", "tool", t.Name, "code", f.Code, "status", f.Status, "duration", time.Since(start))
			if d.Files.Hosted {
				if g := f.forRemote(); g != f {
					d.Logger.Warn("NanoGPT unreachable", "tool", t.Name, "err", f.Message)
					f = g
				}
			}
			return errorResult(f), nil
		}
		d.Logger.Debug("tool call done", "tool", t.Name, "duration", time.Since(start))
		return res, nil
	}
}

// execute runs the tool within its time limit, with progress (when asked for:
// the run's own, retries, and a heartbeat) and the count of NanoGPT retries.
func (t tool[In, Out]) execute(ctx context.Context, d *Deps, req mcp.CallToolRequest, in *In) (*mcp.CallToolResult, *Failure) {
	if req.Params.Task != nil {
		var cancel context.CancelFunc
		ctx, cancel = d.detach(ctx)
		defer cancel()
	}
	if l, ok := d.limit(t.Name); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, l.Time, &timeoutError{tool: t.Name, limit: l})
		defer cancel()
	}
	retries := &retryLog{}
	ctx = nanogpt.WithRetryObserver(ctx, retries.observe)
	p := newProgress(ctx, req)
	retries.progress = p
	defer p.heartbeat(d.Heartbeat)()

	client, err := d.Client(ctx)
	if err != nil {
		return nil, classify(err)
	}
	if client == nil || !client.HasKey() && !t.keyOptional {
		return nil, &Failure{Code: CodeUnauthorized, Message: "no NanoGPT API key is configured",
			Next: "Set NANOGPT_API_KEY in the server's environment (or send your key, when the server is hosted with per-caller keys)."}
	}
	c := &call{client: client, deps: d, progress: p, media: t.media}
	c.owner = d.owner(ctx)
	if t.wait != nil {
		c.wait = d.waitFor(t.wait(in))
	}
	if req.Params.Task != nil {
		c.wait = maxWait * time.Second // a task is waited for by the client's polls, not its patience; the time limit still holds
		if l, ok := d.limit(t.Name); ok {
			c.wait = l.Time
		}
	}
	out, content, err := t.run(ctx, c, in)
	if job, running := stillRunning(ctx, err); running && t.waitJob != nil {
		kept := *in // what waitJob needs of the arguments; not the input files
		if f, ok := any(&kept).(interface{ dropFiles() }); ok {
			f.dropFiles()
		}
		args, _ := json.Marshal(&kept)
		rec := d.jobs.put(c.owner, t.Name, job, args)
		out = new(Out)
		any(out).(jobHolder).setJob(rec.status(false))
		content, err = []mcp.Content{mcp.NewTextContent(pendingText(rec))}, nil
	}
	if err != nil {
		f := ended(ctx, err, classify(err))
		f.Retries, _ = retries.count()
		f.Message, f.Next = client.Redact(f.Message), client.Redact(f.Next)
		return nil, f
	}
	res := &mcp.CallToolResult{Content: content, StructuredContent: out}
	retries.note(res)
	redactResult(res, client)
	return res, nil
}

// detach is the context of a call that runs as a task. mcp-go v1.2.1 runs
// it in a context derived from the request's, which HandleMessage cancels
// as soon as it has answered with the task: the call would end at once.
// Detached (its values kept), it ends at its time limit or with
// d.Lifetime. A tasks/cancel marks the task cancelled at once (mcp-go drops
// the result); the NanoGPT job it waits for cannot be cancelled anyway, and
// the waiting stops at the time limit.
func (d *Deps) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if d.Lifetime == nil {
		return ctx, cancel
	}
	stop := context.AfterFunc(d.Lifetime, cancel)
	return ctx, func() { stop(); cancel() }
}

// redactResult removes the call's key from the text of a result: what NanoGPT
// answered is never trusted not to echo it.
func redactResult(res *mcp.CallToolResult, c *nanogpt.Client) {
	for i, block := range res.Content {
		if tc, ok := block.(mcp.TextContent); ok {
			tc.Text = c.Redact(tc.Text)
			res.Content[i] = tc
		}
	}
	if b, err := json.Marshal(res.StructuredContent); err == nil {
		if r := c.Redact(string(b)); r != string(b) {
			res.StructuredContent = json.RawMessage(r)
		}
	}
}

// goKind names a Go type as the JSON value it decodes from, for messages.
func goKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// decodeArgs validates the arguments against the committed schema, then decodes them.
func decodeArgs[In any](validator *schemas.Schema, req mcp.CallToolRequest) (*In, *Failure) {
	args := req.Params.Arguments
	if args == nil {
		args = map[string]any{}
	}
	if err := validator.Validate(args); err != nil {
		return nil, invalid("%v", err)
	}
	raw := []byte(req.Params.RawArguments)
	if len(raw) == 0 {
		var err error
		if raw, err = json.Marshal(args); err != nil {
			return nil, invalid("arguments cannot be encoded: %v", err)
		}
	}
	in := new(In)
	if string(raw) == "null" {
		return in, nil
	}
	err := json.Unmarshal(raw, in)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && len(req.Params.RawArguments) > 0 {
		// The schema allows an integer written as a whole float (2.0), which
		// encoding/json will not put in an int. The validated arguments,
		// encoded again, write it as 2.
		if again, merr := json.Marshal(args); merr == nil {
			*in = *new(In)
			err = json.Unmarshal(again, in)
		}
	}
	if err != nil {
		if errors.As(err, &te) {
			return nil, invalid("%s: expected %s, got a JSON %s", cmp.Or(te.Field, "arguments"), goKind(te.Type), te.Value)
		}
		return nil, invalid("arguments do not fit the schema: %v", err)
	}
	return in, nil
}
