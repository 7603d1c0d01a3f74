# syntax=docker/dockerfile:1
# routerd's container image (docs/deploy.md):
#   docker build -t routerd .
#   docker run -p 8080:8080 -v routerd-data:/data routerd
# and the chat example's bot from the same file: docker build --target chatbot .
# compose.yaml runs both (a three-node cluster and the bot).

# --- source: the Go toolchain, the modules (cached across builds) and the tree
FROM golang:1.26 AS source
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .

# --- build: routerd as a static binary. The image has no .git, so the commit
# is unknown to `routerd --version`; VERSION names the build instead, e.g.
# --build-arg VERSION=$(git describe --tags --always --dirty).
# .ci/run runs this go build command too (keep the two the same).
FROM source AS build
ARG VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/routerd ./cmd/routerd
# The JetStream volume, owned by the final image's user (distroless nonroot).
RUN mkdir -p /out/data

# --- build-chatbot: the chat example's backend (examples/chatbot)
FROM source AS build-chatbot
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/chatbot ./examples/chatbot

# --- chatbot image: docker build --target chatbot -t routerd-chatbot .
FROM gcr.io/distroless/static-debian12:nonroot AS chatbot
COPY --from=build-chatbot /out/chatbot /usr/local/bin/chatbot
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/chatbot"]

# --- routerd image (the default target): no shell, no package manager,
# user nonroot (65532)
FROM gcr.io/distroless/static-debian12:nonroot AS routerd
COPY --from=build /out/routerd /usr/local/bin/routerd
COPY packaging/container/router.yaml /etc/routerd/router.yaml
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# JetStream storage (nats.jetstream.store_dir: /data/jetstream).
VOLUME /data
# HTTP: WebSocket /ws, Socket.IO, /healthz, /readyz, /metrics (http.listen).
EXPOSE 8080
# Embedded NATS client port for backends (nats.listen; loopback in the
# image's config: publish it only with nats.users set).
EXPOSE 4222
# NATS cluster routes between nodes (nats.cluster.listen).
EXPOSE 6222
# Distroless has no curl or wget: routerd checks its own /readyz (200 once
# connected to NATS).
HEALTHCHECK --interval=10s --timeout=6s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/routerd", "--healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/routerd", "-c", "/etc/routerd/router.yaml"]
