# An app image whose entrypoint is prestart (PID 1). Its secret contract is
# spec.hcl; the launcher hands over VAULT_ROLE_ID and VAULT_WRAPPED_SECRET_ID
# for one start, and prestart removes them from the app's environment.
#
# Built FROM scratch with busybox-static (the example app is a shell
# script). On a distro base, replace the first three instructions with e.g.
#   FROM <your distro base image, e.g. Debian slim from your registry>
#   RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates
# and copy your own app instead of app.sh.
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /run/app/tls /etc/keyturn && chmod 1777 /tmp && chmod 700 /run/app /run/app/tls
# prestart runs prestart-s3, from beside it, when a source is s3://; an
# image that reads Vault only can leave prestart-s3 out.
COPY prestart prestart-s3 /usr/local/bin/
COPY spec.hcl /etc/keyturn/spec.hcl
COPY app.sh /usr/local/bin/app
# prestart -supervise forwards signals to the app's process group, reaps
# zombies, renews the token and exits with the app's status.
ENTRYPOINT ["/usr/local/bin/prestart", "-supervise", "-role", "app", "-spec", "/etc/keyturn/spec.hcl", "--"]
CMD ["/usr/local/bin/app"]
