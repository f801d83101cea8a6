# dxlvtservice container. Mount a folder holding dxlclient.config, its
# certificates and dxlvtservice.config at /opt/dxlvtservice-config; pass the
# API key as VT_API_KEY (or apiKeyFile in a mounted secret). If you mount the
# folder elsewhere, set DXLVT_CLIENT_CONFIG to it too (the HEALTHCHECK reads it).
#
#   docker build -t dxlvtservice .
#   docker run -d --name dxlvtservice -e VT_API_KEY \
#       -v /etc/dxlvtservice:/opt/dxlvtservice-config:ro \
#       -v dxlvtservice-cache:/var/cache/dxlvtservice dxlvtservice

FROM python:3.11-slim AS build
# dxlclient pins msgpack<1.0, which has no wheel for Python 3.11: compile it here.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY setup.py README.md /src/
COPY dxlvtservice /src/dxlvtservice
RUN pip wheel --no-cache-dir --wheel-dir /wheels "setuptools<82" /src

FROM python:3.11-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels \
    && useradd --system --no-create-home --shell /usr/sbin/nologin vtservice \
    && install -d -o vtservice -m 0700 /var/cache/dxlvtservice
ENV XDG_CACHE_HOME=/var/cache \
    DXLVT_CLIENT_CONFIG=/opt/dxlvtservice-config
USER vtservice
# Healthy while this container's service answers /health over the fabric: the
# CLI connects with the mounted dxlclient.config and asks the instance that
# folder's dxlvtservice.config runs (instanceName, else the container's host
# name), not whichever instance the broker would pick. The client certificate
# must be allowed to send requests to the service (docs/deployment.md).
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 \
    CMD ["dxlvtservice-cli", "--timeout", "20", "health", "--instance"]
VOLUME ["/var/cache/dxlvtservice"]
ENTRYPOINT ["dxlvtservice"]
CMD ["/opt/dxlvtservice-config"]
