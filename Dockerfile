# The FloorOps image: hub, edge agent, simulator, models and the one-shot setup steps (docker-compose.yml).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends mosquitto-clients socat \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/floorops
COPY pyproject.toml README.md floorops.toml ./
COPY floorops ./floorops
COPY centre ./centre
COPY edge ./edge
COPY hub ./hub
COPY models ./models
COPY console ./console
COPY firmware_sim ./firmware_sim
RUN pip install --no-cache-dir .
ENV FLOOROPS_VAR_DIR=/var/lib/floorops \
    FLOOROPS_LOG_FORMAT=json
VOLUME ["/var/lib/floorops"]
