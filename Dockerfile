# CNN Playground: docker build -t cnn-playground . && docker run -p 8000:8000 cnn-playground
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_BACKEND=tensorflow \
    TF_CPP_MIN_LOG_LEVEL=2 \
    CNNPG_HOST=0.0.0.0 \
    CNNPG_PORT=8000 \
    CNNPG_DATA_DIR=/data

RUN useradd --create-home --uid 10001 app && mkdir /data && chown app:app /data

WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY templates ./templates
COPY static ./static
COPY models ./models
# A regular (non-editable) install: the wheel carries templates, static files and models.
RUN pip install ".[postgres]" && rm -rf /src

USER app
WORKDIR /home/app
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["cnn-playground", "serve"]
