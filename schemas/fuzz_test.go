package schemas_test

import (
	"encoding/json"
	"testing"

	"github.com/nanogpt-mcp/nanogpt-mcp/schemas"
	"github.com/nanogpt-mcp/nanogpt-mcp/tools"
)

// FuzzValidate checks every tool's committed input schema against arbitrary
// JSON: no panic, and an error message bounded no matter how hostile the input
// (at most 20 problems plus a count, each with a capped path).
func FuzzValidate(f *testing.F) {
	var validators []*schemas.Schema
	for _, name := range tools.Names() {
		raw, err := schemas.Committed(name, "in")
		if err != nil {
			f.Fatal(err)
		}
		v, err := schemas.Parse(raw)
		if err != nil {
			f.Fatal(err)
		}
		validators = append(validators, v)
	}
	for _, seed := range []string{
		`{}`, `null`, `[]`, `"x"`, `1e400`,
		`{"model":"m","userPrompt":"hi","temperature":0.5}`,
		`{"model":"m","messages":[{"role":"robot","content":1}],"stop":["a","b","c","d","e"]}`,
		`{"model":"","temperature":-3,"topK":1.5,"logitBias":{"1":"x"},"response":{"responseFormat":"XML"}}`,
		`{"file":{"url":"data:audio/mpeg;base64,AAAA"},"model":"m","language":"xx"}`,
		`{"imageMessages":[{"content":"cat","weight":null}],"model":"m","n":99}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,"t":20,"u":21,"v":22}`,
		`{"messages":[[[[[[[[[[]]]]]]]]]]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var args any
		if json.Unmarshal(data, &args) != nil {
			return
		}
		for _, v := range validators {
			err := v.Validate(args)
			if err == nil {
				continue
			}
			msg := err.Error()
			problems := err.(*schemas.Error).Problems
			if len(problems) > 21 {
				t.Fatalf("%d problems reported, want at most 20 plus a count", len(problems))
			}
			// Each problem: a path of at most ~200 bytes, a described value of at
			// most ~70, and the list of allowed names or values (under 2 KiB).
			if len(msg) > 21*3000 {
				t.Fatalf("error message of %d bytes for %d bytes of input", len(msg), len(data))
			}
		}
	})
}
