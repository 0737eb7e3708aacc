# syntax=docker/dockerfile:1
#
# nanogpt-mcp, hosted: streamable HTTP at /mcp (and legacy SSE at /sse, /message).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t nanogpt-mcp .
#   docker run --rm -p 8080:8080 -e NANOGPT_API_KEY -e NANOGPT_MCP_AUTH_TOKENS nanogpt-mcp
# The server refuses to listen on 0.0.0.0 without access tokens (or --allow-no-auth).
# See docs/HOSTING.md.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/nanogpt-mcp .

# Static binary on distroless: no shell, no package manager, CA certificates
# for https://nano-gpt.com, and a non-root user (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/nanogpt-mcp /usr/local/bin/nanogpt-mcp
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nanogpt-mcp"]
CMD ["--transport", "http", "--addr", "0.0.0.0:8080"]
