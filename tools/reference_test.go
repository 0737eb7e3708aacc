package tools_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpt"
	"github.com/nanogpt-mcp/nanogpt-mcp/nanogpttest"
	"github.com/nanogpt-mcp/nanogpt-mcp/schemas"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// The reference component (testdata/reference.tsv), not our struct tags,
// decides what a schema says: every parameter's JSON type, shape, options,
// range and required flag are checked against its row, and every difference
// must be a row's stated, deliberate one. Each parameter's sample value then
// goes through the real tool handler, as raw JSON-RPC through mcp-go, and must
// reach a fake NanoGPT as strict as its docs, under its wire name.

type refRow struct {
	tool, name, source, typ, shape, options, rng, required, sample, extra, wire, want string
	differs                                                                           map[string]string
}

func readReference(t *testing.T) []refRow {
	t.Helper()
	f, err := os.Open("testdata/reference.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []refRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	header := true
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 13 {
			t.Fatalf("reference.tsv: %d columns, want 13: %.80s", len(c), line)
		}
		if header {
			header = false
			continue
		}
		r := refRow{tool: c[0], name: c[1], source: c[2], typ: c[3], shape: c[4], options: c[5], rng: c[6], required: c[7],
			sample: c[8], extra: c[9], wire: c[10], want: c[11], differs: map[string]string{}}
		if c[12] != "-" {
			for _, d := range strings.Split(c[12], " | ") {
				kw, reason, ok := strings.Cut(d, ": ")
				kw, _, _ = strings.Cut(kw, "=")
				if !ok || reason == "" {
					t.Fatalf("reference.tsv: %s.%s: a difference without its reason: %q", r.tool, r.name, d)
				}
				r.differs[kw] = reason
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// refSchema is what the check reads of a committed schema.
type refSchema struct {
	Type             string                `json:"type"`
	Enum             []any                 `json:"enum"`
	Minimum          *float64              `json:"minimum"`
	Maximum          *float64              `json:"maximum"`
	ExclusiveMinimum *float64              `json:"exclusiveMinimum"`
	MinItems         *int                  `json:"minItems"`
	MaxItems         *int                  `json:"maxItems"`
	Items            *refSchema            `json:"items"`
	Properties       map[string]*refSchema `json:"properties"`
	Required         []string              `json:"required"`
}

const fileEntry = "object(extension:string,mimeType:string,name:string,url:string)"

// shapeOf renders an object's properties as object(name:type,…), sorted.
func shapeOf(s *refSchema) string {
	var parts []string
	for name, p := range s.Properties {
		parts = append(parts, name+":"+p.Type)
	}
	sort.Strings(parts)
	return "object(" + strings.Join(parts, ",") + ")"
}

func normShape(shape string) string {
	if shape == "FILE_ENTRY" {
		return fileEntry
	}
	if inner, ok := strings.CutPrefix(shape, "object("); ok {
		parts := strings.Split(strings.TrimSuffix(inner, ")"), ",")
		sort.Strings(parts)
		return "object(" + strings.Join(parts, ",") + ")"
	}
	return shape
}

func fmtNum(f *float64) string {
	if f == nil {
		return "-"
	}
	return strconv.FormatFloat(*f, 'g', -1, 64)
}

// keywords compares one property with its row, keyword by keyword: for each,
// what the reference says and what the schema says.
func keywords(r refRow, p *refSchema, required bool) map[string][2]string {
	out := map[string][2]string{}
	out["type"] = [2]string{r.typ, p.Type}
	if r.source == "ours" {
		return out
	}
	shape := "-"
	switch {
	case p.Type == "array" && p.Items != nil && p.Items.Type == "object":
		shape = shapeOf(p.Items)
	case p.Type == "array" && p.Items != nil:
		shape = p.Items.Type
	case p.Type == "object" && len(p.Properties) > 0:
		shape = shapeOf(p)
	}
	out["shape"] = [2]string{normShape(r.shape), shape}
	var enum []string
	for _, e := range p.Enum {
		enum = append(enum, fmt.Sprint(e))
	}
	options := strings.Join(enum, ",")
	if options == "" {
		options = "-"
	}
	out["options"] = [2]string{r.options, options}
	lo, hi, excl := "-", "-", "-"
	switch {
	case r.rng == "-":
	case strings.HasPrefix(r.rng, ">"):
		excl = r.rng[1:]
	default:
		lo, hi, _ = strings.Cut(r.rng, "..")
	}
	out["minimum"] = [2]string{lo, fmtNum(p.Minimum)}
	out["maximum"] = [2]string{hi, fmtNum(p.Maximum)}
	out["exclusiveMinimum"] = [2]string{excl, fmtNum(p.ExclusiveMinimum)}
	items := func(n *int) string {
		if n == nil {
			return "-"
		}
		return strconv.Itoa(*n)
	}
	out["minItems"] = [2]string{"-", items(p.MinItems)}
	out["maxItems"] = [2]string{"-", items(p.MaxItems)}
	out["required"] = [2]string{r.required, strconv.FormatBool(required)}
	return out
}

func TestReferenceSchemas(t *testing.T) {
	rows := readReference(t)
	byTool := map[string]map[string]refRow{}
	for _, r := range rows {
		if byTool[r.tool] == nil {
			byTool[r.tool] = map[string]refRow{}
		}
		byTool[r.tool][r.name] = r
	}
	for tool, params := range byTool {
		raw, err := schemas.Committed(tool, "in")
		if err != nil {
			t.Fatal(err)
		}
		var s refSchema
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		for name := range s.Properties {
			if _, ok := params[name]; !ok {
				t.Errorf("%s.%s is in the schema but has no row in reference.tsv", tool, name)
			}
		}
		for name, r := range params {
			p := s.Properties[name]
			if p == nil {
				t.Errorf("%s.%s: in the reference, missing from the schema", tool, name)
				continue
			}
			for kw, v := range keywords(r, p, slices.Contains(s.Required, name)) {
				covered := r.differs[kw] != "" ||
					r.differs["range"] != "" && (kw == "minimum" || kw == "maximum" || kw == "exclusiveMinimum")
				switch {
				case v[0] != v[1] && !covered:
					t.Errorf("%s.%s: %s is %s in the schema; the reference says %s", tool, name, kw, v[1], v[0])
				case v[0] == v[1] && r.differs[kw] != "":
					t.Errorf("%s.%s: reference.tsv states a difference in %s that is not there (stale row)", tool, name, kw)
				}
			}
		}
	}
}

// refEndpoint is where each tool's request goes.
var refEndpoint = map[string]string{
	"ask": "/api/v1/chat/completions", "createImage": "/api/v1/images/generations",
	"createSpeech": "/api/v1/audio/speech", "createTranscription": "/api/transcribe", "createVideo": "/api/generate-video",
}

// callRaw sends one tools/call as raw JSON-RPC through mcp-go, as a client's
// bytes arrive.
func callRaw(t *testing.T, s *server.MCPServer, tool string, args json.RawMessage) *mcp.CallToolResult {
	t.Helper()
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, tool, args)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := s.HandleMessage(ctx, []byte(msg))
	b, _ := json.Marshal(resp)
	var out struct {
		Result *mcp.CallToolResult `json:"result"`
		Error  any                 `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Result == nil {
		t.Fatalf("%s: no result: %s", tool, b)
	}
	return out.Result
}

func TestReferenceParametersReachTheWire(t *testing.T) {
	fake := nanogpttest.NewDocs(testKey)
	t.Cleanup(fake.Close)
	fake.Set(func(d *nanogpttest.Docs) {
		d.Chat = func(req map[string]any) string {
			if req["response_format"] != nil {
				return `{"answer":4}`
			}
			return "4"
		}
	})
	c := nanogpt.New(nanogpt.Config{BaseURL: fake.URL, APIKey: testKey, Timeout: 10 * time.Second})
	s := server.NewMCPServer("test", "0", server.WithToolCapabilities(false))
	deps := tools.Deps{Client: func(context.Context) (*nanogpt.Client, error) { return c, nil }, Poll: nanogpt.PollOptions{Interval: time.Millisecond}}
	if err := tools.Register(s, deps, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range readReference(t) {
		t.Run(r.tool+"."+r.name, func(t *testing.T) {
			samples := []string{r.sample}
			if r.typ == "integer" && !strings.ContainsAny(r.sample, ".eE") {
				samples = append(samples, r.sample+".0") // finding 3: a whole float is an integer
			}
			for _, sample := range samples {
				var args map[string]json.RawMessage
				if err := json.Unmarshal([]byte(r.extra), &args); err != nil {
					t.Fatal(err)
				}
				args[r.name] = json.RawMessage(sample)
				if _, ok := args["model"]; !ok {
					args["model"] = json.RawMessage(`"m"`)
				}
				raw, _ := json.Marshal(args)
				before := len(fake.Requests())
				res := callRaw(t, s, r.tool, raw)
				if res.IsError {
					t.Fatalf("%s = %s: tool error: %v", r.name, sample, res.Content)
				}
				if r.wire == "-" {
					continue
				}
				req := lastTo(fake, refEndpoint[r.tool], before)
				if req == nil {
					t.Fatalf("no request reached %s", refEndpoint[r.tool])
				}
				got, rawGot, ok := wireValue(t, *req, r.wire)
				if !ok {
					t.Fatalf("%s = %s: nothing at %s in the request: %s", r.name, sample, r.wire, req.Body)
				}
				want := r.want
				if want == "=" {
					want = r.sample
				}
				if !wireEqual(got, want) {
					t.Errorf("%s = %s: the wire's %s is %s, want %s", r.name, sample, r.wire, rawGot, want)
				}
				if r.typ == "integer" && strings.ContainsAny(rawGot, ".eE") {
					t.Errorf("%s = %s: the wire's %s is %s, not an integer", r.name, sample, r.wire, rawGot)
				}
			}
		})
	}
}

// lastTo is the last request to path made after the first `after` requests.
func lastTo(fake *nanogpttest.Docs, path string, after int) *nanogpttest.Request {
	reqs := fake.Requests()
	for i := len(reqs) - 1; i >= after; i-- {
		if reqs[i].Path == path {
			return &reqs[i]
		}
	}
	return nil
}

// wireValue finds a value in a request: a dotted path into its JSON body, or
// multipart:field.
func wireValue(t *testing.T, req nanogpttest.Request, path string) (any, string, bool) {
	t.Helper()
	if field, ok := strings.CutPrefix(path, "multipart:"); ok {
		_, params, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
		mr := multipart.NewReader(bytes.NewReader(req.Body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil, "", false
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == field {
				if p.FileName() != "" {
					return map[string]any{"bytes": float64(len(b))}, fmt.Sprintf(`{"bytes":%d}`, len(b)), true
				}
				q, _ := json.Marshal(string(b))
				return string(b), string(q), true
			}
		}
	}
	var v any
	if err := json.Unmarshal(req.Body, &v); err != nil {
		t.Fatal(err)
	}
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, "", false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i >= len(x) {
				return nil, "", false
			}
			v = x[i]
		default:
			return nil, "", false
		}
	}
	// The raw text as it was sent, for the integer check.
	raw, _ := json.Marshal(v)
	if n, ok := v.(float64); ok {
		raw = []byte(rawNumber(req.Body, path, n))
	}
	return v, string(raw), true
}

// rawNumber finds how a top-level number was written in the body.
func rawNumber(body []byte, path string, n float64) string {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) == nil {
		if r, ok := top[path]; ok {
			return string(r)
		}
	}
	return strconv.FormatFloat(n, 'g', -1, 64)
}

func wireEqual(got any, want string) bool {
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		return false
	}
	g, _ := json.Marshal(got)
	var gn any
	_ = json.Unmarshal(g, &gn)
	return reflect.DeepEqual(gn, w)
}

// TestEverySamplingFieldReachesTheWire walks tools.Sampling: each field, set
// alone to its sample from the reference table, must reach NanoGPT under the
// wire name of the same field of nanogpt.Sampling. A new parameter is one
// field in each struct (the conversion between them does not compile
// otherwise) and one row in the table; this test fails until the three agree.
func TestEverySamplingFieldReachesTheWire(t *testing.T) {
	samples := map[string]string{}
	for _, r := range readReference(t) {
		if r.tool == "ask" {
			samples[r.name] = r.sample
		}
	}
	fake := nanogpttest.NewDocs(testKey)
	t.Cleanup(fake.Close)
	c := nanogpt.New(nanogpt.Config{BaseURL: fake.URL, APIKey: testKey, Timeout: 10 * time.Second})
	s := server.NewMCPServer("test", "0", server.WithToolCapabilities(false))
	if err := tools.Register(s, tools.Deps{Client: func(context.Context) (*nanogpt.Client, error) { return c, nil }}, []string{"ask"}, nil); err != nil {
		t.Fatal(err)
	}
	in, wire := reflect.TypeFor[tools.Sampling](), reflect.TypeFor[nanogpt.Sampling]()
	if in.NumField() != wire.NumField() {
		t.Fatalf("tools.Sampling has %d fields, nanogpt.Sampling %d", in.NumField(), wire.NumField())
	}
	for i := range in.NumField() {
		param, _, _ := strings.Cut(in.Field(i).Tag.Get("json"), ",")
		wireName, _, _ := strings.Cut(wire.Field(i).Tag.Get("json"), ",")
		sample, ok := samples[param]
		if !ok {
			t.Errorf("tools.Sampling.%s (%s) has no row in reference.tsv", in.Field(i).Name, param)
			continue
		}
		before := len(fake.Requests())
		res := callRaw(t, s, "ask", json.RawMessage(`{"model":"m","userPrompt":"hi","`+param+`":`+sample+`}`))
		if res.IsError {
			t.Errorf("%s = %s: %v", param, sample, res.Content)
			continue
		}
		req := lastTo(fake, refEndpoint["ask"], before)
		var body map[string]json.RawMessage
		if req == nil || json.Unmarshal(req.Body, &body) != nil {
			t.Fatalf("%s: no chat request", param)
		}
		if got, ok := body[wireName]; !ok || !wireEqual(json.RawMessage(got), sample) {
			t.Errorf("%s = %s reached the wire as %s = %s", param, sample, wireName, got)
		}
	}
}
