# Digit Reader under gunicorn, as a non-root user. Not exercised by CI (no
# container engine there): kept minimal and standard.
#
#   docker build -t digit-reader .
#   docker run -p 8000:8000 -e SECRET_KEY=... -v digit-storage:/data digit-reader
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # One BLAS/OpenMP thread per worker: gunicorn runs one worker per core.
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    STORAGE_DIR=/data \
    PORT=8000

RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home digits

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN mkdir -p /data && chown digits:digits /data

USER digits
# The model, and the SQLite database when DATABASE_URL is not set.
VOLUME /data
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "app:create_app()"]
