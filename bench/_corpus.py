"""Realistic Kubernetes manifests for the YAML and render benches, and their timer."""

from __future__ import annotations

import time
from collections.abc import Callable

_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-{i}
  namespace: team-{ns}
  labels: &labels
    app.kubernetes.io/name: web-{i}
    app.kubernetes.io/part-of: shop
    tier: frontend
  annotations:
    tether.dev/sync-wave: "{wave}"
spec:
  replicas: 3
  revisionHistoryLimit: 5
  selector:
    matchLabels: *labels
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}
  template:
    metadata:
      labels: *labels
    spec:
      serviceAccountName: web
      securityContext:
        runAsNonRoot: yes
        fsGroup: 2000
      containers:
        - name: web
          image: registry.example.com/shop/web:1.{i}.0
          imagePullPolicy: IfNotPresent
          args: ["--port=8080", "--log-level=info", "--cache-size=128"]
          ports:
            - {{name: http, containerPort: 8080, protocol: TCP}}
          env:
            - name: MODE
              value: production
            - name: WORKERS
              value: "4"
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{cpu: "1", memory: 512Mi}}
          readinessProbe:
            httpGet: {{path: /healthz, port: http}}
            periodSeconds: 10
          volumeMounts:
            - name: config
              mountPath: /etc/web
              readOnly: true
      volumes:
        - name: config
          configMap:
            name: web-{i}
            defaultMode: 0644
"""

_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web-{i}
  namespace: team-{ns}
spec:
  selector:
    app.kubernetes.io/name: web-{i}
  ports:
    - name: http
      port: 80
      targetPort: http
"""

_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-{i}
  namespace: team-{ns}
data:
  app.properties: |
    feature.a=true
    feature.b=false
    threads={i}
  mode: "production"
"""

_TEMPLATES = (_DEPLOYMENT, _SERVICE, _CONFIGMAP)


def document(i: int) -> str:
    """The i-th document: a Deployment, a Service or a ConfigMap in turn."""
    return _TEMPLATES[i % 3].format(i=i, ns=i % 7, wave=i % 5)


def stream(count: int) -> str:
    """``count`` documents joined into one multi-document YAML stream."""
    return "---\n".join(document(i) for i in range(count))


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The best wall time of ``runs`` calls of ``work``, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)
