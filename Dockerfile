# Dockerfile: Ponte as a service (`ponte serve`). Build: docker build -t ponte . ; run: see compose.yaml and
# docs/deploy.md. Stage 1 builds the wheel; stage 2 installs it (with Meltano, which `ponte run` drives) on a
# slim Python, installs the project's Meltano plugins and runs as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip install --no-cache-dir "build==1.6.1" && python -m build --wheel --outdir /wheels

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 ponte
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl "meltano==4.4.1" && rm -rf /wheels
WORKDIR /srv/ponte
# The Meltano project: meltano.yml and its included files, the declarations and the plugins' source (`pip_url: -e .`)
COPY --chown=ponte:ponte . /srv/ponte
USER ponte
RUN meltano install
EXPOSE 8780
ENV PONTE_SERVE_BIND=0.0.0.0:8780
# SIGTERM (docker stop, compose down) drains the runs in progress: give it stop_grace_period > PONTE_SERVE_DRAIN_SECONDS
STOPSIGNAL SIGTERM
ENTRYPOINT ["ponte", "serve"]
CMD ["--project", "/srv/ponte"]
