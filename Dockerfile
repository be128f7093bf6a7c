# snapbuy on the CPU: `docker build -t snapbuy .` then see docs/deployment.md.
# The image holds the code and its packages only. Model weights are mounted at /models (nothing is
# downloaded at run time) and index bundles at /data.
# BASE_IMAGE: a mirror's copy of python:3.11-slim, or another Debian image with Python 3.11 as `python`.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SNAPBUY_MODELS_DIR=/models \
    SNAPBUY_HOST=0.0.0.0 \
    SNAPBUY_PORT=8000

# libgomp: OpenMP for torch's and faiss's CPU kernels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# An extra package index for torch, e.g. PyTorch's CPU-only wheel index, keeps the image free of the
# CUDA libraries that the default torch wheel pulls in (docs/deployment.md).
ARG TORCH_INDEX_URL=""
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} . \
    && useradd --create-home --uid 10001 snapbuy \
    && mkdir -p /data /models \
    && chown snapbuy /data

USER snapbuy
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
ENTRYPOINT ["snapbuy"]
CMD ["serve", "--index", "/data/indexes/shop", "--host", "0.0.0.0", "--port", "8000"]
