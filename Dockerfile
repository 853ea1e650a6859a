# syntax=docker/dockerfile:1
# Build: docker build -t scorer .
# Run:   docker run -p 8080:8080 -v scorer-data:/data scorer
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/scorer ./cmd/scorer && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scorer /usr/local/bin/scorer
COPY --from=build --chown=nonroot:nonroot /out/data /data
# State (Badger, the embedded broker's log) lives here; mount a volume.
VOLUME ["/data"]
ENV SCORER_DATA_DIR=/data \
    SCORER_HTTP_ADDR=:8080
EXPOSE 8080 9092
USER nonroot:nonroot
# distroless has no shell or curl: the binary checks itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/scorer", "healthcheck", "--url", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/scorer"]
CMD ["serve"]
