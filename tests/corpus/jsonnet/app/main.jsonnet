// The quotes service, as Argo CD's Jsonnet examples write an app: top-level
// arguments for what changes per environment (replicas, env), an external
// variable for a setting of the whole cluster (greeting), a library for the rest.
local k = import 'corpus.libsonnet';

function(replicas=1, env='dev')
  local name = 'quotes';
  [
    k.configMap(name, {
      ENVIRONMENT: env,
      GREETING: std.extVar('greeting'),
    }),
    k.deployment(name, image='ghcr.io/example/quotes:2.1.0', replicas=replicas),
    k.service(name),
  ]
