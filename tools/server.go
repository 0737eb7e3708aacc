// Package tools holds the MCP tools: their inputs, validation, the calls to
// NanoGPT, and how results (text, JSON, media) go back to the client.
package tools

import (
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
}

// Spec describes a tool and names the Go types its schemas are reflected from.
type Spec struct {
	Name        string
	Title       string
	Description string
	Input       any // pointer to the input struct
	Output      any // pointer to the output struct, or nil
}

// Specs lists every tool, for schema generation, documentation and tests.
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
	known := map[string]bool{}
	for _, def := range defs {
		known[def.spec().Name] = true
	}
	for _, name := range only {
		if !known[name] {
			return fmt.Errorf("unknown tool %q (tools: %s)", name, strings.Join(Names(), ", "))
		}
	}
	for name := range defaultModels {
		if !known[name] {
			return fmt.Errorf("default model for unknown tool %q", name)
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
		s.AddTools(st)
	}
	return nil
}

func definitions() []definition {
	return []definition{askTool(), createImageTool(), createSpeechTool(), createTranscriptionTool(),
		listModelsTool(&modelCache{}), checkBalanceTool()}
}

type definition interface {
	spec() Spec
	serverTool(d *Deps, defaultModel string) (server.ServerTool, error)
}

// tool is one tool's declaration: text for the model, hints, and its run function.
type tool[In any] struct {
	name, title, description string
	readOnly, idempotent     bool
	keyOptional              bool // the call works without a NanoGPT key (listModels)
	output                   any
	run                      func(ctx context.Context, c *call, in *In) (*mcp.CallToolResult, error)
}

// call is what a run function gets besides its input.
type call struct {
	client   *nanogpt.Client
	deps     *Deps
	progress *progress // nil when the client did not ask for progress
}

func (t tool[In]) spec() Spec {
	return Spec{Name: t.name, Title: t.title, Description: t.description, Input: new(In), Output: t.output}
}

func (t tool[In]) serverTool(d *Deps, defaultModel string) (server.ServerTool, error) {
	in, err := schemas.Committed(t.name, "in")
	if err != nil {
		return server.ServerTool{}, err
	}
	description := t.description
	if defaultModel != "" {
		if in, err = schemas.WithDefaultModel(in, defaultModel); err != nil {
			return server.ServerTool{}, fmt.Errorf("tools: %s: %w", t.name, err)
		}
		description += " The model defaults to " + defaultModel + "."
	}
	validator, err := schemas.Parse(in)
	if err != nil {
		return server.ServerTool{}, fmt.Errorf("tools: %s: %w", t.name, err)
	}
	mt := mcp.NewToolWithRawSchema(t.name, description, in)
	if t.output != nil {
		if mt.RawOutputSchema, err = schemas.Committed(t.name, "out"); err != nil {
			return server.ServerTool{}, err
		}
	}
	mt.Annotations = mcp.ToolAnnotation{
		Title:           t.title,
		ReadOnlyHint:    mcp.ToBoolPtr(t.readOnly),
		DestructiveHint: mcp.ToBoolPtr(false),
		IdempotentHint:  mcp.ToBoolPtr(t.idempotent),
		OpenWorldHint:   mcp.ToBoolPtr(true),
	}
	return server.ServerTool{Tool: mt, Handler: t.handler(d, validator, defaultModel)}, nil
}

// handler validates and decodes the arguments, runs the tool, and turns every
// failure (bad input, NanoGPT errors, panics) into an isError result.
func (t tool[In]) handler(d *Deps, validator *schemas.Schema, defaultModel string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (res *mcp.CallToolResult, err error) {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				d.Logger.Error("tool panicked", "tool", t.name, "panic", r, "stack", string(debug.Stack()))
				res, err = errorResult(&Failure{Code: CodeInternal, Message: fmt.Sprintf("internal error in %s: %v", t.name, r),
					Next: "This is a bug in nanogpt-mcp; please report it. Other calls are unaffected."}), nil
			}
		}()
		in, f := decodeArgs[In](validator, req)
		if f == nil && defaultModel != "" {
			if m := reflect.ValueOf(in).Elem().FieldByName("Model"); m.IsValid() && m.String() == "" {
				m.SetString(defaultModel)
			}
		}
		if f == nil {
			res, f = t.execute(ctx, d, req, in)
		}
		if f != nil {
			d.Logger.Info("tool call failed", "tool", t.name, "code", f.Code, "status", f.Status, "duration", time.Since(start))
			return errorResult(f), nil
		}
		d.Logger.Debug("tool call done", "tool", t.name, "duration", time.Since(start))
		return res, nil
	}
}

// execute runs the tool within its time limit, with progress (when asked for:
// the run's own, retries, and a heartbeat) and the count of NanoGPT retries.
func (t tool[In]) execute(ctx context.Context, d *Deps, req mcp.CallToolRequest, in *In) (*mcp.CallToolResult, *Failure) {
	if l, ok := d.limit(t.name); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, l.Time, &timeoutError{tool: t.name, limit: l})
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
	res, err := t.run(ctx, &call{client: client, deps: d, progress: p}, in)
	if err != nil {
		f := ended(ctx, err, classify(err))
		f.Retries, _ = retries.count()
		return nil, f
	}
	retries.note(res)
	return res, nil
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
			return nil, invalid("%s: expected %s, got a JSON %s", firstNonEmpty(te.Field, "arguments"), goKind(te.Type), te.Value)
		}
		return nil, invalid("arguments do not fit the schema: %v", err)
	}
	return in, nil
}
