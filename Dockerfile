# watchword: a small, non-root runtime image with the release binary only.
#
#   docker build -t watchword .
#
# Both base images are build arguments, so a mirrored or offline build swaps them without
# editing this file (tests/container/run.sh builds it with local stand-ins):
#
#   docker build --build-arg RUST_IMAGE=mirror.example/rust:1.95-slim-bookworm \
#                --build-arg RUNTIME_IMAGE=mirror.example/distroless/cc-debian12:nonroot -t watchword .
#
# RUST_IMAGE needs cargo, rustc and a C compiler (aws-lc-sys builds C); RUNTIME_IMAGE needs
# glibc and libgcc_s, and nothing else: the configuration defaults are compiled in.
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# The dependency layer is built from stand-in targets that cargo itself lists, not with
# cargo-chef. Cargo parses every manifest of the workspace before it builds anything, so the
# stand-in tree needs a file for every target any member declares or cargo discovers (benches,
# examples, tests, build scripts, a new member's): the hand-kept list this file had broke when
# [[bench]] targets came. `cargo metadata --no-deps` names them all, from the same manifests
# cargo will build, so nothing here changes when members or targets are added. cargo-chef
# derives its recipe the same way and would work as well, but it is one more tool to compile
# in the first layer: measured here, installing it compiled 186 crates and took longer than
# half of watchword's own dependencies, on every cold cache or new RUST_IMAGE, and needs the
# crate registry for itself. What it adds beyond this (masking the workspace's own version
# numbers) is not worth that: a version bump rebuilds the dependencies, nothing else does.
FROM ${RUST_IMAGE} AS planner
WORKDIR /src
COPY . .
# /skeleton: Cargo.lock, every member's manifest and the workspace's, cargo's configuration
# and toolchain files, and one stand-in source per target (an empty main: it compiles as a
# lib, bin, test, bench, example or build script; the lint opt-outs keep a manifest's
# [lints] from failing on it). Fixed file times: the layer below is cached on content.
RUN set -eu; \
    cargo metadata --no-deps --format-version 1 >/tmp/metadata.json; \
    grep -o '"manifest_path":"[^"]*"' /tmp/metadata.json >/tmp/manifests; \
    grep -o '"src_path":"[^"]*"' /tmp/metadata.json >/tmp/targets; \
    mkdir /skeleton; \
    for f in Cargo.toml Cargo.lock .cargo/config.toml .cargo/config rust-toolchain rust-toolchain.toml; do \
        if [ -f "$f" ]; then cp --parents "$f" /skeleton/; fi; \
    done; \
    while IFS='"' read -r _ _ _ path _; do cp --parents "${path#/src/}" /skeleton/; done </tmp/manifests; \
    while IFS='"' read -r _ _ _ path _; do \
        mkdir -p "/skeleton/$(dirname "${path#/src/}")"; \
        printf '//! Stand-in for the dependency layer.\n#![allow(warnings, clippy::all)]\nfn main() {}\n' \
            >"/skeleton/${path#/src/}"; \
    done </tmp/targets; \
    find /skeleton -exec touch -h -d @0 {} +

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY --from=planner /skeleton/ ./
# Only the dependencies of the watchword binary (and stand-ins of the workspace's own code),
# with the flags of the real build below, so its dependencies are all fresh.
RUN cargo build --release --locked -p watchword --bin watchword
# The whole context over the stand-ins: the code, openapi.yaml and config/ (read at compile
# time by include_str!). Targets the context leaves out (.dockerignore) keep their stand-ins,
# so the manifests still parse. Copied files keep their own times, older than the stand-ins'
# build: touch them, so cargo compiles the workspace's own packages again from the real code.
COPY . .
RUN find . -path ./target -prune -o -type f -exec touch {} + \
    && cargo build --release --locked -p watchword --bin watchword

# distroless/cc has glibc and libgcc (aws-lc is C) and nothing else: no shell, no curl.
FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/release/watchword /usr/local/bin/watchword
# Configure with WATCHWORD__SECTION__KEY variables and files mounted under /etc/watchword/,
# e.g. WATCHWORD__KEYS__SIGNING_KEY_FILE=/etc/watchword/key.pem and
# WATCHWORD__USERS__FILE=/etc/watchword/users.toml (or WATCHWORD_CONFIG=/etc/watchword/watchword.toml).
ENV WATCHWORD__SERVER__BIND=0.0.0.0:8080
# A container has a CPU cgroup of its own, where the only threads that compete with hashing
# are the service's own request threads: there SCHED_IDLE makes every request preempt a hash at
# once, and cannot starve logins for a busy neighbour, which a shared host's cgroup could
# (BENCHMARKS.md, "Scheduling the hashing threads"). A bare binary keeps "nice". The variable
# only names the password section: a scheduling policy, not a secret.
# hadolint ignore=DL3064
ENV WATCHWORD__PASSWORD__SCHEDULING=idle
EXPOSE 8080
# 65532 is distroless's "nonroot" user; numeric so Kubernetes runAsNonRoot can check it.
USER 65532:65532
WORKDIR /
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/watchword", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/watchword"]
CMD ["serve"]
