# Builds the contactpoint binary into a small image for docker-compose.yml.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/contactpoint ./cmd/contactpoint

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/contactpoint /usr/local/bin/contactpoint
USER nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/contactpoint"]
CMD ["serve"]
