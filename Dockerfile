# The service image: runs `python -m app serve` (API plus embedded worker).
# Run `python -m app migrate` once per release (e.g. as a one-off container) before starting replicas,
# and `python -m app worker` containers from the same image for more workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /srv
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home /srv privacy \
    && mkdir -p /srv/var \
    && chown -R privacy /srv/var

USER privacy
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8000\")}/healthz', timeout=2)"
CMD ["python", "-m", "app", "serve"]
