/**
 * GET /metrics: the server's counters in the Prometheus text exposition format (version 0.0.4):
 * connections per transport, messages in and out, bytes out, queue drops, resumes, broker round-trip
 * latency, and whether Redis is reachable when the hub runs on it.
 */
import type { HubStats } from '../session/hub.js';
import type { Admission } from './admission.js';

export interface MetricsSources {
  hub: HubStats;
  /** The Redis connection's state ('ready', 'reconnecting', ...), or null without Redis. */
  redis: string | null;
  /** SSE channel subscribers (GET /sse). */
  sseSubscribers: number;
  /** Limits per client address, when the server has them. */
  admission?: Pick<Admission, 'refused' | 'addresses' | 'handshakesInFlight'>;
}

type Sample = [labels: Record<string, string>, value: number];

function metric(
  name: string,
  type: 'counter' | 'gauge' | 'histogram',
  help: string,
  samples: Sample[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, value] of samples) {
    const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '\\$&')}"`);
    lines.push(
      `${name}${pairs.length === 0 ? '' : `{${pairs.join(',')}}`} ${Number.isFinite(value) ? value : 0}`,
    );
  }
  return lines.join('\n');
}

export function renderMetrics(sources: MetricsSources): string {
  const { hub } = sources;
  const latency = hub.brokerLatency;
  const parts = [
    metric(
      'conduit_hub_connections',
      'gauge',
      'Sessions on a transport now, by transport.',
      Object.entries(hub.transports).map(([transport, n]) => [{ transport }, n]),
    ),
    metric('conduit_hub_sessions', 'gauge', 'Sessions held, with or without a transport.', [
      [{}, hub.sessions],
    ]),
    metric('conduit_hub_messages_in_total', 'counter', 'Client messages received.', [[{}, hub.messagesIn]]),
    metric('conduit_hub_messages_out_total', 'counter', 'Server messages written to transports.', [
      [{}, hub.messagesOut],
    ]),
    metric(
      'conduit_hub_bytes_out_total',
      'counter',
      'Size of the server messages written (JSON, about bytes).',
      [[{}, hub.unitsOut]],
    ),
    metric('conduit_hub_publications_total', 'counter', 'Publications made through this node.', [
      [{}, hub.publications],
    ]),
    metric('conduit_hub_resumes_total', 'counter', 'Sessions resumed on a new transport.', [
      [{}, hub.resumes],
    ]),
    metric(
      'conduit_hub_queue_gaps_total',
      'counter',
      'Channels dropped from slow sessions queues (gap sent).',
      [[{}, hub.gaps]],
    ),
    metric('conduit_hub_queue_dropped_total', 'counter', 'Publications dropped from slow sessions queues.', [
      [{}, hub.dropped],
    ]),
    metric('conduit_hub_slow_disconnects_total', 'counter', 'Transports closed with 4008 (slow consumer).', [
      [{}, hub.slowDisconnects],
    ]),
    metric('conduit_hub_publishes_in_flight', 'gauge', 'Client publishes with the broker now.', [
      [{}, hub.publishesInFlight],
    ]),
    metric('conduit_hub_publishes_queued', 'gauge', 'Client publishes queued behind those, in order.', [
      [{}, hub.publishesQueued],
    ]),
    metric(
      'conduit_hub_publishes_waiting_disconnects_total',
      'counter',
      'Transports closed with 4013: too many of their publishes were waiting for the broker.',
      [[{}, hub.publishesWaitingDisconnects]],
    ),
    metric('conduit_sse_subscribers', 'gauge', 'Subscribers of the plain SSE channels (GET /sse).', [
      [{}, sources.sseSubscribers],
    ]),
    metric('conduit_broker_publish_seconds', 'histogram', 'Round trip of a publish to the broker.', [
      ...latency
        .cumulative()
        .map(({ le, count }): Sample => [{ le: le === '+Inf' ? le : String(Number(le) / 1000) }, count]),
    ]).replace(/conduit_broker_publish_seconds\{/g, 'conduit_broker_publish_seconds_bucket{'),
    `conduit_broker_publish_seconds_sum ${latency.sum / 1000}\nconduit_broker_publish_seconds_count ${latency.count}`,
  ];
  if (sources.redis !== null) {
    parts.push(
      metric('conduit_redis_up', 'gauge', 'Whether the connection to Redis is ready (1) or not (0).', [
        [{ state: sources.redis }, sources.redis === 'ready' ? 1 : 0],
      ]),
    );
  }
  const admission = sources.admission;
  if (admission !== undefined) {
    parts.push(
      metric(
        'conduit_admission_refused_total',
        'counter',
        'Requests and connections refused by the limits per client address, by reason.',
        Object.entries(admission.refused).map(([reason, n]): Sample => [{ reason }, n]),
      ),
      metric('conduit_admission_addresses', 'gauge', 'Client addresses tracked by admission control.', [
        [{}, admission.addresses],
      ]),
      metric('conduit_websocket_handshakes_in_flight', 'gauge', 'WebSocket upgrades not answered yet.', [
        [{}, admission.handshakesInFlight],
      ]),
    );
  }
  return `${parts.join('\n')}\n`;
}
