# dogcli in a container: Debian's chromium and chromium-driver, a non-root user, /data as the
# archive, `dogcli fetch` every 10 minutes on the clock (docker/entrypoint.sh), `dogcli health`
# as the healthcheck. README, Container.
FROM python:3.11-slim-bookworm

# Unpinned on purpose: chromium and its driver must come from the same Debian update (security
# fixes arrive often); `docker build --pull` takes the newest. The sandbox needs user namespaces,
# which Docker's default seccomp profile refuses: the container is the sandbox (Debian's
# chromium wrapper reads /etc/chromium.d; the $CHROMIUM_FLAGS there is its, not ours).
# hadolint ignore=DL3008,SC2016
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium chromium-driver tzdata ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && echo 'export CHROMIUM_FLAGS="$CHROMIUM_FLAGS --no-sandbox"' > /etc/chromium.d/container \
    && useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin dogcli \
    && install -d -o dogcli -g dogcli -m 0750 /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY dogcli ./dogcli
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && rm -rf /src
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/dogcli-entrypoint

ENV DOGCLI_DATA_DIR=/data \
    DOGCLI_CHROME_BINARY=/usr/bin/chromium \
    DOGCLI_CHROMEDRIVER=/usr/bin/chromedriver \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

# Before the first fetch health is UNKNOWN ("no archive yet"): the start period covers it.
HEALTHCHECK --interval=5m --timeout=60s --start-period=15m --retries=1 \
    CMD ["dogcli-entrypoint", "healthcheck"]

ENTRYPOINT ["dogcli-entrypoint"]
CMD ["fetch-loop"]
