# holdfast image: the binary plus the database clients it calls (sqlite3, pg_dump,
# pg_restore, psql, redis-cli) on Debian slim, running as an unprivileged user.
#
#   docker build -t holdfast .          (or: podman build -t holdfast .)
#   docker run --rm holdfast version
#
# An app image takes the binary alone:
#   COPY --from=holdfast /usr/local/bin/holdfast /usr/local/bin/holdfast

FROM docker.io/library/rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p holdfast \
 && install -D -m 0755 target/release/holdfast /out/holdfast

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates sqlite3 postgresql-client redis-tools tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 holdfast \
 && useradd --system --uid 10001 --gid holdfast --home-dir /var/lib/holdfast \
      --create-home --shell /usr/sbin/nologin holdfast
COPY --from=builder /out/holdfast /usr/local/bin/holdfast
USER holdfast:holdfast
WORKDIR /var/lib/holdfast
ENV HOLDFAST_CACHE_DIR=/var/lib/holdfast/cache
EXPOSE 8425
ENTRYPOINT ["holdfast"]
CMD ["--help"]
