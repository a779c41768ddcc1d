# syntax=docker/dockerfile:1
# The recording controller (ari-recorder run), for the compose stack or on its own:
#   docker build -t ari-recorder .
#   docker run --rm -v ./my-settings.toml:/etc/ari-recorder/ari-recorder.toml:ro \
#       -e ARI_RECORDER_ARI__PASSWORD=... ari-recorder
# Settings: the file /etc/ari-recorder/ari-recorder.toml (mount your own; the compose stack mounts
# deploy/ari-recorder.toml), every key overridable by ARI_RECORDER_<SECTION>__<KEY> (README).

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
# Only what the package is made of (.dockerignore keeps the rest out of the context).
COPY pyproject.toml README.md ./
COPY src/ src/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .


FROM python:3.11-slim-bookworm
# ffmpeg: stereo merging and mp3/ogg/opus conversion on delivery (delivery/audio.py).
# tini: PID 1 that forwards SIGTERM (the controller stops cleanly on it) and reaps ffmpeg.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10020 ari-recorder \
 && useradd --system --uid 10020 --gid ari-recorder --home-dir /var/lib/ari-recorder --shell /usr/sbin/nologin ari-recorder \
 && mkdir -p /var/lib/ari-recorder/spool /var/lib/ari-recorder/outbox /etc/ari-recorder \
 && chown -R ari-recorder:ari-recorder /var/lib/ari-recorder

COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels

COPY deploy/controller-entrypoint /usr/local/bin/controller-entrypoint

ENV PYTHONUNBUFFERED=1 \
    ARI_RECORDER_CONFIG=/etc/ari-recorder/ari-recorder.toml
USER 10020:10020
# Relative paths in the settings (var/spool, var/outbox, a SQLite file) land here.
WORKDIR /var/lib/ari-recorder
VOLUME ["/var/lib/ari-recorder"]
EXPOSE 8089/tcp

# The OpenAPI document needs no token: the API is up and answering. No curl in the image: Python.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('ARI_RECORDER_API__PORT', '8089') + '/api/v1/openapi.json', timeout=4).close()"]

ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/controller-entrypoint"]
CMD ["ari-recorder", "run", "--config", "/etc/ari-recorder/ari-recorder.toml"]
