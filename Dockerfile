# syntax=docker/dockerfile:1
# rankpulse: a static binary on a distroless base, running as a non-root
# user, with its data (embedded store, spool, outbox) in the /data volume.
#   docker build -t rankpulse --build-arg VERSION=$(git describe --tags --always) .

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ENV CGO_ENABLED=0 GOOS=linux
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rankpulse ./cmd/rankpulse
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rankpulse /usr/local/bin/rankpulse
COPY deploy/container.yaml /etc/rankpulse/rankpulse.yaml
COPY --from=build --chown=65532:65532 /out/data /data
USER nonroot:nonroot
WORKDIR /data
VOLUME ["/data"]
EXPOSE 9580
ENV RANKPULSE_CONFIG=/etc/rankpulse/rankpulse.yaml
ENTRYPOINT ["/usr/local/bin/rankpulse"]
CMD ["run"]
