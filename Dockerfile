# Signet in a container: a static binary on a distroless base, running as an
# unprivileged user. Mount the config at /etc/signet and persistent state
# (keystore, SQLite audit log) at /var/lib/signet:
#
#   docker build -t signet .
#   docker run --rm -p 8443:8443 --read-only --cap-drop=ALL --security-opt=no-new-privileges \
#     --ulimit core=0 -v /etc/signet:/etc/signet:ro -v signet-data:/var/lib/signet signet
#
# The keystore starts locked: unlock after every start (docs/operations.md).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/signet ./cmd/signet

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/signet /usr/local/bin/signet
USER nonroot:nonroot
VOLUME ["/var/lib/signet"]
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/signet"]
CMD ["serve", "--config", "/etc/signet/signet.yaml"]
