# The Live Shopper host: the five plugins are compiled to wasm32-wasip2 and embedded by the
# build; librdkafka is built from source by rdkafka-sys. Used by docker-compose.yaml.
FROM rust:1.95-bookworm AS build
RUN rustup target add wasm32-wasip2
WORKDIR /src
COPY . .
RUN cargo build --release -p live-shopper --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /var/lib/live-shopper /etc/live-shopper
COPY --from=build /src/target/release/live-shopper /usr/local/bin/live-shopper
EXPOSE 8080
ENTRYPOINT ["live-shopper", "run", "--config", "/etc/live-shopper/live-shopper.toml"]
