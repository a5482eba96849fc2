# syntax=docker/dockerfile:1
#
# The bccreds image. It runs `bccreds controller` (Kubernetes mode, see charts/bccreds) unless
# given another command: `docker run --rm -v "$PWD/manifests:/m:ro" IMAGE validate /m`.
#
#   docker build -t bccreds:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#
# Why glibc and not a static (musl) binary: the toolchain of rust:1-bookworm targets glibc as it
# is, and distroless/cc-debian12 carries exactly the runtime that binary links (glibc 2.36, the
# same Debian 12 as the builder; libgcc_s; libm) plus CA certificates, which the BigCommerce
# client's TLS reads from /etc/ssl/certs. A musl build would need a second target and a musl C
# toolchain for the C in ring and the bundled SQLite, musl's allocator slows the multi-threaded
# tokio runtime noticeably, and its resolver treats Kubernetes' search domains and ndots
# differently from glibc's. The only dynamic libraries are libc, libm and libgcc_s (`ldd`).

############################################################################################
FROM rust:1-bookworm AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0

# 1. Dependencies only: a layer that stays cached until Cargo.toml or Cargo.lock change. Build
#    them against stub sources, then delete what was built from the stubs, so that step 2
#    compiles the real crate. Should this step ever fail (say, a target declared in Cargo.toml
#    whose file is not there yet), step 2 still builds everything, only without the cache.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && { cargo build --release --locked --bin bccreds \
      || echo "note: dependency cache step failed; the next step builds everything"; } \
 && rm -rf src \
      target/release/bccreds target/release/bccreds.d \
      target/release/deps/bccreds-* target/release/deps/libbccreds-* \
      target/release/.fingerprint/bccreds-*

# 2. The crate. Everything that .dockerignore lets through: src/, and examples/ because
#    `bccreds demo` embeds those files.
COPY . .
RUN cargo build --release --locked --bin bccreds \
 && install -D -m 0755 target/release/bccreds /out/bccreds \
 && /out/bccreds --version

############################################################################################
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="bccreds" \
      org.opencontainers.image.description="Declarative reconciler for the BigCommerce API credentials of UnoPim's BigCommerce connector" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="UnoPim" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

# Owned by root and not writable by the user it runs as.
COPY --from=builder /out/bccreds /usr/local/bin/bccreds

# The distroless `nonroot` user; numeric so that runAsNonRoot can verify it.
USER 65532:65532
# /healthz, /readyz and /metrics (`--listen`; the chart passes --listen=0.0.0.0:9464).
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/bccreds"]
CMD ["controller"]
