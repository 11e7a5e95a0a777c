# aws-app itself in a container, for machines with Docker but no Rust: `./aws-app.sh` builds and
# runs this when cargo is missing. Same profile as aws-app.sh's cargo build (dev, tuned for build
# time: the tool waits on the network, not on the CPU).
ARG RUST_IMAGE=rust:1-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY src src
COPY docker docker
COPY tests tests
RUN cargo build --locked --bin aws-app && cp target/debug/aws-app /usr/local/bin/aws-app

FROM ${RUNTIME_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/aws-app /usr/local/bin/aws-app
# Published ports of the app's containers are on the Docker host, not in this container.
ENV AWS_APP_LOCAL_HOST=host.docker.internal
ENTRYPOINT ["aws-app"]
