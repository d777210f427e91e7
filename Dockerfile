# syntax=docker/dockerfile:1
#
# One image for the gateway and the four services; docker-compose.yml picks
# the binary per container with `command:`.
#
# cargo-chef splits the build so that the slow part, compiling dependencies,
# is a layer that only changes with Cargo.toml/Cargo.lock: planner computes a
# recipe from the manifests, cook builds the dependencies from it, and only
# then is the source copied in and the workspace's own crates compiled.
#
# The bookworm variant of the chef image matches the runtime's glibc: the
# plain `latest-rust-1` tag follows the newest Debian release, whose binaries
# do not run on bookworm.

FROM lukemathwalker/cargo-chef:latest-rust-1-bookworm AS chef
WORKDIR /app

# Only the root workspace is copied: web/ is a workspace of its own (wasm32)
# and its changes must not invalidate these layers. A new top-level member
# directory has to be added to both COPY lists below.
FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY crates crates
COPY dev dev
COPY gateway gateway
COPY services services
COPY xtask xtask
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# No database is reachable while building: compile-time checked queries, if
# any are added, must come from committed `cargo sqlx prepare` data.
ENV SQLX_OFFLINE=true
ARG PACKAGES="-p shop-gateway -p shop-users -p shop-products -p shop-orders -p shop-notifications"
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json ${PACKAGES}
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY crates crates
COPY dev dev
COPY gateway gateway
COPY services services
COPY xtask xtask
RUN cargo build --release --locked ${PACKAGES} \
 && mkdir /out \
 && cp target/release/shop-gateway target/release/shop-users target/release/shop-products \
       target/release/shop-orders target/release/shop-notifications /out/

FROM debian:bookworm-slim AS runtime
# ca-certificates for outgoing TLS (e.g. an identity provider), curl for the
# container health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 shop \
 && useradd --system --uid 10001 --gid shop --create-home --home-dir /home/shop \
      --shell /usr/sbin/nologin shop
COPY --from=builder /out/ /usr/local/bin/
USER shop:shop
WORKDIR /home/shop
# A container is reached through its network interface, never loopback, and
# its logs are collected as lines of JSON.
# MIMALLOC_PURGE_DELAY=0: the users service's allocator returns freed pages
# at once; otherwise the 19 MiB of a password hash stays resident after the
# thread that hashed goes idle (BENCHMARKS.md, memory).
ENV HOST=0.0.0.0 \
    LOG_FORMAT=json \
    MIMALLOC_PURGE_DELAY=0
EXPOSE 3000 8001 8002 8003 8004

# One image per part, laid out as `cargo xtask images` builds them on the
# project's machines (binary in /usr/local/bin, user 10001, the binary's own
# health check): `docker build --target shop-orders -t shop-orders .`
FROM runtime AS shop-gateway
HEALTHCHECK CMD ["/usr/local/bin/shop-gateway", "health"]
ENTRYPOINT ["/usr/local/bin/shop-gateway"]

FROM runtime AS shop-users
HEALTHCHECK CMD ["/usr/local/bin/shop-users", "health"]
ENTRYPOINT ["/usr/local/bin/shop-users"]

FROM runtime AS shop-products
HEALTHCHECK CMD ["/usr/local/bin/shop-products", "health"]
ENTRYPOINT ["/usr/local/bin/shop-products"]

FROM runtime AS shop-orders
HEALTHCHECK CMD ["/usr/local/bin/shop-orders", "health"]
ENTRYPOINT ["/usr/local/bin/shop-orders"]

FROM runtime AS shop-notifications
HEALTHCHECK CMD ["/usr/local/bin/shop-notifications", "health"]
ENTRYPOINT ["/usr/local/bin/shop-notifications"]

# The default target, last: all five binaries in one image, which
# docker-compose.yml runs with `command:` naming the binary.
FROM runtime AS services
CMD ["shop-gateway"]
