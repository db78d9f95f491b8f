/**
 * What `conduit config init` writes: a commented starter file (YAML), every setting shown with its
 * default. It validates as it is (test/config/load.test.ts).
 */
export const STARTER_YAML = `# conduit serve configuration (YAML; JSON works too).
# Precedence: flags > environment (CONDUIT_..., e.g. CONDUIT_PORT, CONDUIT_ADMISSION_TRUSTED_PROXIES)
# > this file > defaults. Check a file with: conduit config check FILE
# The JSON Schema for editors: conduit config schema (docs/conduit.config.schema.json).

# Where to listen. Port 0 picks a free one.
host: 127.0.0.1
port: 8080

# HTTPS with HTTP/2 and HTTP/1.1 on one port, and wss://. PEM files.
# tls:
#   cert: /etc/conduit/cert.pem
#   key: /etc/conduit/key.pem

# Largest WebSocket message, and memory for messages being received on all connections (bytes).
# maxPayload: 16777216
# receiveBudget: 536870912

# WebSocket ping interval, ms (0: off).
# heartbeatMs: 30000

# permessage-deflate: shared (no zlib state per connection), dedicated (better ratio) or off.
deflate: shared

# The demo market feed and /demo/token.
demo: true

# Structured logs on stderr: debug, info, warn, error or silent.
logLevel: info

# Who may use the hub (/ws, /hub/*). Give the token secret in CONDUIT_ACCESS_TOKEN_SECRET rather
# than here; with a secret, tokens are required unless allowAnonymous.
# access:
#   origins: [https://app.example.com]
#   allowAnonymous: false
#   tokenAudience: my-app
#   tokenIssuer: https://auth.example.com

# Scale-out over Redis: exactly one of url, cluster or sentinels.
# redis:
#   url: redis://127.0.0.1:6379
#   # cluster: [10.0.0.1:7000, 10.0.0.2:7000]
#   # sentinels: [10.0.0.1:26379]
#   # sentinelName: mymaster
#   prefix: "conduit:"
#   # replicas: 1   # acknowledge a publish once one replica has it

# Limits per client address (docs/memory-budget.md). Behind a reverse proxy, list it in
# trustedProxies, or every client counts as the proxy's address.
admission:
  trustedProxies: []
  maxConnectionsPerAddress: 256
  maxHandshakesPerAddress: 32
  maxHandshakes: 1024
  newSessionsPerSecond: 10
  newSessionsBurst: 50
  maxSessionsPerAddress: 1000
`;
