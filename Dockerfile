# portal-admin: build with the official Rust image, run on Debian slim as a non-root user.
#   docker build -t portal-admin .
# Configuration is the environment (README "Configuration"); compose.yaml runs the whole system.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin portal-admin \
    && cp target/release/portal-admin /usr/local/bin/portal-admin

FROM debian:bookworm-slim
# ca-certificates: TLS to SMTP (smtps://, STARTTLS); curl: the health check below.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/portal-admin \
       --shell /usr/sbin/nologin portal-admin \
    && install -d -o portal-admin -g portal-admin -m 0750 /var/lib/portal-admin
COPY --from=build /usr/local/bin/portal-admin /usr/local/bin/portal-admin

USER portal-admin:portal-admin
# The working directory holds what the service writes beside itself: a SQLite file when
# DATABASE_URL is sqlite://, MAIL_DIR in development. Mount a volume here for SQLite.
WORKDIR /var/lib/portal-admin
ENV PORTAL_ENV=production \
    LISTEN_ADDR=0.0.0.0:8000 \
    MAIL_DIR=/var/lib/portal-admin/mail
EXPOSE 8000
# Ready = the database takes a write within 2 s (README "HTTP", /readyz).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl --fail --silent --show-error --max-time 4 http://127.0.0.1:8000/readyz || exit 1
# `serve` applies pending migrations at start. Production refuses to start (exit 78) without
# DATABASE_URL (PostgreSQL), PUBLIC_URL, SMTP_URL and TOTP_ENCRYPTION_KEY.
ENTRYPOINT ["/usr/local/bin/portal-admin"]
CMD ["serve"]
