# An app image whose entrypoint is prestart. Build prestart static:
#   CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o prestart ./cmd/prestart
FROM alpine:3.20
COPY prestart /usr/local/bin/prestart
COPY spec.hcl /etc/keyturn/spec.hcl
COPY app /usr/local/bin/app
# prestart is PID 1: it forwards signals to the app's process group, reaps
# zombies and exits with the app's status.
ENTRYPOINT ["/usr/local/bin/prestart", "-supervise", "-role", "app", "-spec", "/etc/keyturn/spec.hcl", "--"]
CMD ["/usr/local/bin/app"]
