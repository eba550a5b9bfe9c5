# paygw: one static binary for the gateway, the workers and every batch job.
# Build: docker build -t ghcr.io/paygw/paygw:0.1.0 .   (deploy/dockerfile_test.go runs the same go build)
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/paygw ./cmd/paygw

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/paygw /paygw
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/paygw"]
