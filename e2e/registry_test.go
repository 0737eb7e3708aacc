package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestServerJSON validates server.json, the MCP Registry's entry for this
// server, against the registry's schema (2025-12-11, the one its $schema
// names), a copy from github.com/modelcontextprotocol/registry v1.8.9
// (internal/validators/schemas/2025-12-11.json): the registry's own
// validator wants the network. SERVER_JSON names another file to check (the
// one bundle/pack writes for a release).
func TestServerJSON(t *testing.T) {
	c := jsonschema.NewCompiler()
	schema, err := c.Compile(filepath.Join("testdata", "server.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join("..", "server.json")}
	if f := os.Getenv("SERVER_JSON"); f != "" {
		files = append(files, f)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s does not validate against the registry's schema: %v", f, err)
		}
		var s struct {
			Schema   string `json:"$schema"`
			Name     string `json:"name"`
			Packages []struct {
				RegistryType string `json:"registryType"`
				Env          []struct {
					Name     string `json:"name"`
					IsSecret bool   `json:"isSecret"`
				} `json:"environmentVariables"`
			} `json:"packages"`
		}
		_ = json.Unmarshal(b, &s)
		if !strings.Contains(s.Schema, "2025-12-11") || s.Name != "io.github.nanogpt-mcp/nanogpt-mcp" {
			t.Errorf("%s: $schema %q, name %q", f, s.Schema, s.Name)
		}
		kinds := map[string]bool{}
		for _, p := range s.Packages {
			kinds[p.RegistryType] = true
			if len(p.Env) == 0 || p.Env[0].Name != "NANOGPT_API_KEY" || !p.Env[0].IsSecret {
				t.Errorf("%s: the %s package does not ask for NANOGPT_API_KEY as a secret", f, p.RegistryType)
			}
		}
		if !kinds["oci"] || !kinds["mcpb"] {
			t.Errorf("%s: packages %v, want the OCI image and the bundle", f, kinds)
		}
	}
}
