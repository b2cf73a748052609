# Builds the contactpoint binary into a small image for docker-compose.yml.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/contactpoint ./cmd/contactpoint
# The data directory, owned by the image's nonroot user (65532), so that a
# fresh named volume mounted on it is writable by the hub.
RUN mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/contactpoint /usr/local/bin/contactpoint
COPY --from=build --chown=65532:65532 /out/data /var/lib/contactpoint
USER nonroot
ENV CONTACTPOINT_DATA_DIR=/var/lib/contactpoint
VOLUME /var/lib/contactpoint
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/contactpoint"]
CMD ["serve"]
