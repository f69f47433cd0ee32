# syntax=docker/dockerfile:1
# The Tether operator image: Python slim, non-root, with the pinned helm and kustomize.
# Build from the repository root:  docker build -t tether:dev .
# Tool versions come from e2e/versions.env, the same pins the tests use.

ARG GO_VERSION=1.26
ARG PYTHON_VERSION=3.11

# --- helm and kustomize, built from their Go modules ------------------------------------
FROM golang:${GO_VERSION}-bookworm AS tools
WORKDIR /build
COPY e2e/versions.env ./
ENV CGO_ENABLED=0 GOFLAGS=-trimpath GOBIN=/out
RUN set -eu; . ./versions.env; \
    k8s_minor="$(echo "${KUBERNETES_VERSION#v}" | cut -d. -f2)"; \
    go install -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${k8s_minor} \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${k8s_minor}" \
      "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"; \
    go install -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"; \
    /out/helm version --short; /out/kustomize version

# --- the Python package as a wheel -------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/tether-*.whl

# --- the runtime image -------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim
RUN groupadd --gid 10001 tether \
 && useradd --uid 10001 --gid 10001 --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin tether \
 && mkdir -p /var/cache/tether \
 && chown 10001:10001 /var/cache/tether
COPY --from=tools /out/helm /out/kustomize /usr/local/bin/
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels tether \
 && rm -rf /wheels
# A read-only root filesystem leaves only /tmp and the cache folder writable.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TETHER_CACHE=/var/cache/tether \
    TETHER_HELM=/usr/local/bin/helm \
    TETHER_KUSTOMIZE=/usr/local/bin/kustomize
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["tether"]
CMD ["run", "--all-namespaces"]
