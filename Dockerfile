# syntax=docker/dockerfile:1
#
# s3gw container image: a multi-stage build with the Rust toolchain the
# gateway's Cargo.lock needs, run as an unprivileged user on Debian slim.
#
#   docker build -t s3gw .
#   docker run -p 7480:7480 -v s3gw-data:/data s3gw
#
# With no configuration the image serves the embedded default (buckets-lite
# under /data, a development key printed once in the log). To front a real
# store, mount a configuration and point S3GW_CONFIG at it
# (docs/operations.md, "Container image").

ARG RUST_VERSION=1.89
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
WORKDIR /src
# The version line names the commit it was built from; pass it in when the
# build context has no .git (docker build --build-arg S3GW_GIT_COMMIT=...).
ARG S3GW_GIT_COMMIT=unknown
ENV S3GW_GIT_COMMIT=${S3GW_GIT_COMMIT}
COPY . .
RUN cargo build --release --locked --bin s3gw \
    && install -D -m 0755 target/release/s3gw /out/s3gw

FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates: TLS to the native store and LDAP; curl: the health check.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin s3gw \
    && install -d -o s3gw -g s3gw -m 0750 /data
COPY --from=build /out/s3gw /usr/local/bin/s3gw
# Inside a container the listeners must face the container's network; the
# ops listener (metrics, health) stays on its own port.
ENV S3GW__SERVER__LISTEN=0.0.0.0:7480 \
    S3GW__OPS__LISTEN=0.0.0.0:9480 \
    S3GW__EMBEDDED__DATA_DIR=/data
USER s3gw:s3gw
WORKDIR /data
VOLUME ["/data"]
EXPOSE 7480 9480
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9480/health/live"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/s3gw"]
CMD ["serve"]
