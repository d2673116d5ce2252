# keyward in a container: built in the Rust image, run as a non-root user on Debian slim.
#
#   docker build --build-arg KEYWARD_GIT_REVISION=$(git rev-parse --short=12 HEAD) -t keyward .
#   docker run -p 8080:8080 -v keyward-data:/var/lib/keyward keyward
#
# The first start on an empty volume writes the first root key to
# /var/lib/keyward/keyward.db.root-key (mode 0600): read it once with
# `docker run --rm -v keyward-data:/var/lib/keyward --entrypoint cat keyward
# /var/lib/keyward/keyward.db.root-key`, then delete it.

# The toolchain the project is built and tested with.
FROM rust:1.95-bookworm AS builder
WORKDIR /src
# `keyward --version` shows this revision (the build context has no .git).
ARG KEYWARD_GIT_REVISION=unknown
ENV KEYWARD_GIT_REVISION=${KEYWARD_GIT_REVISION}
COPY . .
RUN cargo build --release --locked --bin keyward \
 && install -m 0755 target/release/keyward /usr/local/bin/keyward \
 && /usr/local/bin/keyward man > /usr/local/share/keyward.1

FROM debian:bookworm-slim
# curl only for the health check; ca-certificates for PostgreSQL/Redis over TLS.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 keyward \
 && useradd --system --uid 10001 --gid keyward --home-dir /var/lib/keyward --shell /usr/sbin/nologin keyward \
 && install -d -o keyward -g keyward -m 0700 /var/lib/keyward
COPY --from=builder /usr/local/bin/keyward /usr/local/bin/keyward
COPY --from=builder /usr/local/share/keyward.1 /usr/local/share/man/man1/keyward.1
COPY docs/keyward.toml /etc/keyward/keyward.toml

USER 10001:10001
WORKDIR /var/lib/keyward
VOLUME ["/var/lib/keyward"]
ENV KEYWARD_LISTEN=0.0.0.0:8080 \
    KEYWARD_DATABASE_URL=sqlite:///var/lib/keyward/keyward.db
EXPOSE 8080
# /healthz answers 200 while the process serves (readiness, with the database, is /readyz).
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["serve", "--config", "/etc/keyward/keyward.toml"]
