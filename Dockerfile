# paperboy: a small non-root image that runs `paperboy run`.
#   docker build -t paperboy .
#   docker run -d --name paperboy -p 8650:8650 -v paperboy-data:/data -e DISCORD_TOKEN paperboy
# The database and config.toml live in the /data volume; DISCORD_TOKEN comes from the environment.
# tests/test_ops_docker.py reads this file's COPY, ENV, WORKDIR, ENTRYPOINT, CMD and HEALTHCHECK
# lines and runs the same command in a fresh virtualenv, so keep them simple and literal.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY storage/ storage/
COPY feeds/ feeds/
COPY bot/ bot/
COPY paperboy/ paperboy/
# A virtualenv is one folder to copy into the runtime stage, leaving pip's build tools behind.
RUN python -m venv /opt/paperboy \
    && /opt/paperboy/bin/pip install --no-cache-dir /src

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="paperboy" \
      org.opencontainers.image.description="A research group's papers: store, feeds, Discord bot"
RUN groupadd --system --gid 10001 paperboy \
    && useradd --system --uid 10001 --gid paperboy --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin paperboy \
    && mkdir /data \
    && chown paperboy:paperboy /data
COPY --from=build /opt/paperboy /opt/paperboy
# Copied into /data so a new named volume starts with an editable config beside the database.
COPY --chown=paperboy:paperboy deploy/docker-config.toml /data/config.toml
ENV PATH="/opt/paperboy/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PAPERBOY_CONFIG=/data/config.toml
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8650
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-m", "paperboy.health"]
ENTRYPOINT ["paperboy"]
CMD ["run"]
