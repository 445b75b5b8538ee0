# eg4-mqtt-bridge: the bridge daemon in a small image.
#   docker build -t eg4-mqtt-bridge .
#   docker run -d --name eg4-bridge --user "$(id -u):$(id -g)" \
#     -v "$PWD/config.yaml:/config/config.yaml:ro" -e EG4_CLOUD_PASSWORD='...' eg4-mqtt-bridge
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The health endpoint on 127.0.0.1:9108 answers the HEALTHCHECK below.
    EG4_HEALTH_ENABLED=true

# Installed exactly as the README installs it: pip install of the project directory.
WORKDIR /opt/eg4-mqtt-bridge
COPY pyproject.toml README.md ./
COPY bridge ./bridge
RUN pip install . && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin eg4bridge

USER eg4bridge
# Mount the config file here (read-only); keep passwords in EG4_CLOUD_PASSWORD and EG4_MQTT_PASSWORD.
# A config file readable by its owner only (mode 600) needs `--user "$(id -u):$(id -g)"`: the bridge
# then runs as that owner; any user may run the installed program.
VOLUME ["/config"]

# 200 from /healthz while the broker is connected and the cloud was read recently; 503 otherwise. The
# address comes from the config's health section, so a changed health.port is followed.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 \
    CMD ["eg4-bridge", "healthcheck", "--config", "/config/config.yaml"]

ENTRYPOINT ["eg4-bridge"]
CMD ["run", "--config", "/config/config.yaml"]
