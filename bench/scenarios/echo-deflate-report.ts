/** The echodeflate report: run.ts's table layout (median, range, vs ws, of raw TCP, CPU columns). */
import { formatNumber, formatPercent, formatRatio, markdownTable, median } from '../stats.js';
import type { DeflateServer } from './echo-deflate.js';

export interface DeflateMeasurement {
  server: DeflateServer;
  run: number;
  messagesPerSecond: number;
  /** Payload bytes per echoed message as the server sent it (compressed; whole frames for raw TCP). */
  echoBytesPerMessage: number;
  /** Fraction of one core; above 100% when zlib runs on libuv's thread pool as well. */
  serverCpu: number;
  loadCpu: number;
  info: string;
  /** The Sec-WebSocket-Extensions the server answered. */
  extensions: string;
}

const LABELS: Record<DeflateServer, string> = {
  'conduit-shared': "Conduit, 'shared'",
  'conduit-dedicated': "Conduit, 'dedicated'",
  ws: 'ws + bufferutil',
  tcp: 'raw TCP (ceiling)',
};

/** The issue's target for Conduit against ws on this scenario. */
const TARGET = 1.3;
/** Load-generator CPU (fraction of a core) above which a figure may be the generator's limit. */
const GENERATOR_BOUND = 0.9;

export function echoDeflateReport(
  title: string,
  servers: readonly DeflateServer[],
  measurements: readonly DeflateMeasurement[],
): string {
  const of = (server: DeflateServer) => measurements.filter((m) => m.server === server);
  const med = (server: DeflateServer, f: (m: DeflateMeasurement) => number) => median(of(server).map(f));
  const rate = (m: DeflateMeasurement) => m.messagesPerSecond;
  const perCore = (m: DeflateMeasurement) => m.messagesPerSecond / m.serverCpu;
  const ws = med('ws', rate);
  const tcp = med('tcp', rate);
  const rows = servers.map((server) => {
    const figures = of(server).map(rate);
    const value = med(server, rate);
    const loadCpu = med(server, (m) => m.loadCpu);
    return [
      LABELS[server],
      formatNumber(value),
      figures.length > 0
        ? `${formatNumber(Math.min(...figures))} - ${formatNumber(Math.max(...figures))}`
        : 'n/a',
      server === 'ws' ? '1.00x' : formatRatio(value / ws),
      formatPercent(value / tcp),
      formatNumber(med(server, perCore)),
      formatPercent(med(server, (m) => m.serverCpu)),
      formatPercent(loadCpu) + (loadCpu >= GENERATOR_BOUND ? ' (!)' : ''),
      formatNumber(med(server, (m) => m.echoBytesPerMessage)),
      String(figures.length),
    ];
  });
  const lines = [
    `### ${title}`,
    '',
    markdownTable(
      [
        'server',
        'median msg/s',
        'min - max',
        'vs ws',
        'of raw TCP',
        'msg/s per server core',
        'server CPU',
        'load-gen CPU',
        'bytes/echo',
        'runs',
      ],
      rows,
    ),
    '',
  ];
  for (const server of ['conduit-shared', 'conduit-dedicated'] as const) {
    const value = med(server, rate);
    if (!servers.includes(server) || !Number.isFinite(value) || !Number.isFinite(ws)) continue;
    const ratio = value / ws;
    lines.push(
      `${LABELS[server]} / ws = **${formatRatio(ratio)}** (median msg/s; target >= ${formatRatio(TARGET)}: ` +
        `${ratio >= TARGET ? 'met' : 'NOT met'}); per server core: ${formatRatio(med(server, perCore) / med('ws', perCore))}`,
    );
  }
  lines.push(
    '',
    "Server CPU counts every thread of the server process: above 100% means zlib also ran on libuv's " +
      'thread pool. bytes/echo: compressed payload per echoed message (raw TCP: whole frames echoed).',
  );
  if (rows.some((row) => row[7]!.endsWith('(!)'))) {
    lines.push('(!) the load generator was near one full core: that figure may be limited by the generator.');
  }
  lines.push('', 'Negotiated (the 101 response) and server details:', '');
  for (const server of servers) {
    const first = of(server)[0];
    lines.push(
      `- ${LABELS[server]}: ${first ? `\`${first.extensions}\`; ${first.info}` : 'no successful run'}`,
    );
  }
  lines.push('');
  return lines.join('\n');
}
