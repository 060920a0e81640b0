# watchword: a small, non-root runtime image with the release binary only.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, in their own layer: rebuilt only when Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src examples benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > examples/sibling_service.rs \
    && cargo build --release --locked --bin watchword \
    && rm -rf src
COPY config ./config
COPY openapi.yaml ./
COPY src ./src
# touch: the dummy build left newer timestamps than the copied sources.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin watchword

# distroless/cc has glibc and libgcc (aws-lc is C) and nothing else: no shell, no curl.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/watchword /usr/local/bin/watchword
# Configure with WATCHWORD__SECTION__KEY variables and files mounted under /etc/watchword/,
# e.g. WATCHWORD__KEYS__SIGNING_KEY_FILE=/etc/watchword/key.pem and
# WATCHWORD__USERS__FILE=/etc/watchword/users.toml (or WATCHWORD_CONFIG=/etc/watchword/watchword.toml).
ENV WATCHWORD__SERVER__BIND=0.0.0.0:8080
EXPOSE 8080
# 65532 is distroless's "nonroot" user; numeric so Kubernetes runAsNonRoot can check it.
USER 65532:65532
WORKDIR /
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/watchword", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/watchword"]
CMD ["serve"]
