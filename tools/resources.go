package tools

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/nanogpt-mcp/nanogpt-mcp/media"
)

// mediaTemplate is the URI template of the generated files, read with
// resources/read.
const mediaTemplate = "nanogpt://media/{id}"

// addMediaResources serves the media store's files to their owners:
// resources/read through a template (a file is only ever one caller's, so
// it cannot be a resource registered for everyone).
func addMediaResources(s *server.MCPServer, d *Deps) {
	s.AddResourceTemplate(mcp.NewResourceTemplate(mediaTemplate, "Generated media",
		mcp.WithTemplateDescription("An image, audio or video file that a tool of this server generated for you; kept for a while (see the result that named it).")),
		func(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
			it, ok := d.Store.Get(d.owner(ctx), media.IDOf(req.Params.URI))
			if !ok {
				return nil, fmt.Errorf("%w: %s is not a generated file of yours, or it has expired", server.ErrResourceNotFound, req.Params.URI)
			}
			data, err := d.Store.Read(it)
			if err != nil {
				return nil, err
			}
			return []mcp.ResourceContents{mcp.BlobResourceContents{URI: req.Params.URI, MIMEType: it.MIME, Blob: base64.StdEncoding.EncodeToString(data)}}, nil
		})
}

// MediaHooks lists each caller's generated files in resources/list. mcp-go
// lists the resources registered for everyone or for a session; a caller's
// files outlive their session (and a stateless request has none), so the
// hook adds them to the list. Give the server these hooks (server.WithHooks)
// and the same store and owner in Deps.
func MediaHooks(store *media.Store, owner func(context.Context) string) *server.Hooks {
	h := &server.Hooks{}
	h.AddAfterListResources(func(ctx context.Context, _ any, _ *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
		if res == nil || store == nil {
			return
		}
		who := ""
		if owner != nil {
			who = owner(ctx)
		}
		for _, it := range store.List(who) {
			r := mcp.NewResource(media.URI(it.ID), it.Name, mcp.WithMIMEType(it.MIME),
				mcp.WithResourceDescription(fmt.Sprintf("generated %s, %s", it.Created.UTC().Format("2006-01-02 15:04 UTC"), humanBytes(it.Size))))
			res.Resources = append(res.Resources, r)
		}
	})
	return h
}

// owner is the caller of a call ("" over stdio).
func (d *Deps) owner(ctx context.Context) string {
	if d.Owner == nil {
		return ""
	}
	return d.Owner(ctx)
}
