// Small constructors for the objects every app needs, shared through `libs`.
{
  labels(name):: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'corpus' },

  configMap(name, data):: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: name, labels: $.labels(name) },
    data: data,
  },

  deployment(name, image, replicas=1, port=8080):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: name, labels: $.labels(name) },
    spec: {
      replicas: replicas,
      selector: { matchLabels: $.labels(name) },
      template: {
        metadata: { labels: $.labels(name) },
        spec: {
          containers: [{
            name: name,
            image: image,
            ports: [{ containerPort: port, name: 'http' }],
            envFrom: [{ configMapRef: { name: name } }],
          }],
        },
      },
    },
  },

  service(name, port=80):: {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: name, labels: $.labels(name) },
    spec: {
      selector: $.labels(name),
      ports: [{ port: port, targetPort: 'http', name: 'http' }],
    },
  },
}
