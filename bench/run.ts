/**
 * `npm run bench`: Conduit, ws (with bufferutil) and a raw-TCP echo ceiling, side by side.
 *
 * Each measurement forks two processes: the server under test (servers/*.js) and the load generator
 * (load/generator.js), so the load never shares the server's event loop. Servers alternate from run to
 * run (rotated order), each scenario runs `--runs` times, and the report gives the median per server,
 * the ratio Conduit/ws and every figure as a fraction of the raw-TCP ceiling. Everything is bounded in
 * time: children have their own deadlines, the orchestrator kills them on timeout, failure and exit.
 *
 *   node dist/bench/run.js [--runs 5] [--duration 5] [--warmup 1] [--scenario echo64|echo1m|all]
 *                          [--servers conduit,ws,tcp] [--cpu-prof] [--cpu-prof-dir DIR] [--json FILE]
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type CpuSample,
  cpuFraction,
  type LoadMessage,
  type LoadPlan,
  SERVER_KINDS,
  type ServerCommand,
  type ServerKind,
  type ServerMessage,
} from './protocol.js';
import {
  DEFLATE_ARGS,
  DEFLATE_USAGE,
  type DeflateCliOptions,
  parseDeflateOptions,
  runDeflateScenarios,
} from './scenarios/deflate-cli.js';
import {
  parseScaleOptions,
  runScaleScenarios,
  SCALE_ARGS,
  SCALE_USAGE,
  type ScaleCliOptions,
} from './scenarios/scale-cli.js';
import { formatNumber, formatPercent, formatRatio, markdownTable, median } from './stats.js';

interface Scenario {
  name: string;
  title: string;
  connections: number;
  inFlight: number;
  size: number;
  /** Which figure the scenario is judged on. */
  metric: 'msg/s' | 'MB/s';
  /** Issue 3's target for Conduit / ws. */
  target: number;
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'echo64',
    title: 'Echo of 64-byte binary messages, 50 connections x 16 in flight',
    connections: 50,
    inFlight: 16,
    size: 64,
    metric: 'msg/s',
    target: 1.5,
  },
  {
    name: 'echo1m',
    title: 'Echo of 1 MiB binary messages, 4 connections x 2 in flight',
    connections: 4,
    inFlight: 2,
    size: 1024 * 1024,
    metric: 'MB/s',
    target: 1.1,
  },
];

/** Load-generator CPU (fraction of a core) above which a figure may be the generator's limit. */
const GENERATOR_BOUND = 0.9;

/**
 * The echo scenarios also measure Conduit with its scalar TypeScript masking loop
 * (CONDUIT_NO_WASM_MASK=1) beside the default WebAssembly SIMD kernel: 'conduit-ts'.
 */
type EchoKind = ServerKind | 'conduit-ts';

/** The echo rows for a --servers list: 'conduit' brings its TypeScript-masking twin. */
function echoKinds(servers: readonly ServerKind[]): EchoKind[] {
  return servers.flatMap((k): EchoKind[] => (k === 'conduit' ? ['conduit', 'conduit-ts'] : [k]));
}

const SERVER_FILES: Record<EchoKind, string> = {
  conduit: 'servers/conduit-echo.js',
  'conduit-ts': 'servers/conduit-echo.js',
  ws: 'servers/ws-echo.js',
  tcp: 'servers/tcp-echo.js',
};

const SERVER_LABELS: Record<EchoKind, string> = {
  conduit: 'Conduit',
  'conduit-ts': 'Conduit, TS masking',
  ws: 'ws + bufferutil',
  tcp: 'raw TCP (ceiling)',
};

const USAGE = `Usage: node dist/bench/run.js [options]   (or: npm run bench -- [options])
  --runs N            measurements per server and scenario (default 5); the median is reported
  --duration S        measured seconds per run (default 5)
  --warmup S          seconds of load before measuring (default 1)
  --scenario NAME     echo64, echo1m, echodeflate, soak, broadcast1k, broadcast10k, storm,
                      ssefanout1k, ssefanout5k, hubfanout10k, clusterfanout3k (3 nodes on the Redis
                      at REDIS_URL, default redis://127.0.0.1:6379) or all (default all: every one
                      but soak)
  --servers LIST      comma-separated subset of conduit,ws,tcp (default all three)
  --cpu-prof          run the Conduit server under node --cpu-prof (one .cpuprofile per run)
  --cpu-prof-dir DIR  where profiles go (default bench-profiles); summarise one with
                      node dist/bench/profile-summary.js FILE
  --json FILE         also write every measurement as JSON
${DEFLATE_USAGE}
${SCALE_USAGE}
  --help`;

interface Options {
  runs: number;
  durationMs: number;
  warmupMs: number;
  scenarios: Scenario[];
  servers: ServerKind[];
  cpuProfDir: string | null;
  json: string | null;
  /** echodeflate and soak (scenarios/deflate-cli.ts). */
  deflate: DeflateCliOptions;
  /** broadcast1k, broadcast10k and storm (scenarios/scale-cli.ts). */
  scale: ScaleCliOptions;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      scenario: { type: 'string', default: 'all' },
      servers: { type: 'string', default: SERVER_KINDS.join(',') },
      'cpu-prof': { type: 'boolean', default: false },
      'cpu-prof-dir': { type: 'string', default: 'bench-profiles' },
      json: { type: 'string' },
      ...DEFLATE_ARGS,
      ...SCALE_ARGS,
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (name: string, raw: string, max: number): number => {
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0 || value > max) {
      throw new RangeError(`--${name} must be a number in (0, ${max}], got ${raw}`);
    }
    return value;
  };
  const scenarios =
    values.scenario === 'all' ? [...SCENARIOS] : SCENARIOS.filter((s) => s.name === values.scenario);
  const deflate = parseDeflateOptions(values.scenario, values);
  const scale = parseScaleOptions(values.scenario, values);
  if (scenarios.length === 0 && !deflate.echoDeflate && deflate.soak === null && scale.scenarios.length === 0)
    throw new RangeError(`unknown --scenario ${values.scenario}`);
  const servers = values.servers.split(',').map((s) => s.trim());
  for (const s of servers) {
    if (!(SERVER_KINDS as readonly string[]).includes(s)) throw new RangeError(`unknown server ${s}`);
  }
  return {
    runs: Math.round(positive('runs', values.runs, 100)),
    durationMs: positive('duration', values.duration, 600) * 1000,
    warmupMs: positive('warmup', values.warmup, 60) * 1000,
    scenarios,
    servers: servers as ServerKind[],
    cpuProfDir: values['cpu-prof'] ? resolve(values['cpu-prof-dir']) : null,
    json: values.json ?? null,
    deflate,
    scale,
  };
}

// Child processes ------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('error', (error) => console.error(`child process ${child.pid}: ${error.message}`));
  child.once('exit', () => children.delete(child));
  return child;
}

function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

function waitFor<T>(
  what: string,
  ms: number,
  setup: (resolve: (v: T) => void, reject: (e: Error) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    setup(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** Ask a server to stop (so --cpu-prof can write its profile), then kill it if it does not. */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  if (server.connected) server.send({ type: 'stop' } satisfies ServerCommand);
  else server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface Measurement {
  scenario: string;
  server: EchoKind;
  run: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  serverCpu: number;
  loadCpu: number;
  info: string;
}

async function measure(
  scenario: Scenario,
  kind: EchoKind,
  run: number,
  options: Options,
): Promise<Measurement> {
  const here = new URL('.', import.meta.url);
  const lifetime = options.warmupMs + options.durationMs + 60_000;
  const execArgv: string[] = [];
  if (kind.startsWith('conduit') && options.cpuProfDir !== null) {
    mkdirSync(options.cpuProfDir, { recursive: true });
    execArgv.push(
      '--cpu-prof',
      `--cpu-prof-dir=${options.cpuProfDir}`,
      `--cpu-prof-name=${kind}-${scenario.name}-run${run + 1}-${process.pid}.cpuprofile`,
    );
  }
  const server = track(
    fork(new URL(SERVER_FILES[kind], here), [String(lifetime)], {
      execArgv,
      env: kind === 'conduit-ts' ? { ...process.env, CONDUIT_NO_WASM_MASK: '1' } : process.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  let load: ChildProcess | null = null;
  try {
    const cpuSamples: CpuSample[] = [];
    let onCpu: (() => void) | null = null;
    const ready = await waitFor<{ port: number; info: string }>('the server to listen', 10_000, (ok, ko) => {
      server.on('message', (raw: unknown) => {
        const message = raw as ServerMessage;
        if (message.type === 'ready') ok({ port: message.port, info: message.info });
        else if (message.type === 'cpu') {
          cpuSamples.push(message.sample);
          onCpu?.();
        }
      });
      server.once('exit', (code) => ko(new Error(`the server exited early (code ${code})`)));
    });
    const plan: LoadPlan = {
      port: ready.port,
      protocol: kind === 'tcp' ? 'tcp' : 'ws',
      path: '/echo',
      connections: scenario.connections,
      inFlight: scenario.inFlight,
      size: scenario.size,
      warmupMs: options.warmupMs,
      durationMs: options.durationMs,
    };
    const generator = track(
      fork(new URL('load/generator.js', here), [JSON.stringify(plan)], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    load = generator;
    const requestCpu = (): void => {
      if (server.connected) server.send({ type: 'cpu' } satisfies ServerCommand);
    };
    const budget = options.warmupMs + options.durationMs + 30_000;
    const result = await waitFor<Extract<LoadMessage, { type: 'result' }>>(
      'the load generator',
      budget,
      (ok, ko) => {
        generator.on('message', (raw: unknown) => {
          const message = raw as LoadMessage;
          if (message.type === 'measuring') requestCpu();
          else if (message.type === 'result') ok(message);
          else ko(new Error(`load generator: ${message.message}`));
        });
        generator.once('exit', (code) =>
          ko(new Error(`the load generator exited (code ${code}) without a result`)),
        );
        server.once('exit', (code) => ko(new Error(`the server exited during the run (code ${code})`)));
      },
    );
    requestCpu();
    await waitFor<void>('server CPU usage', 2000, (ok) => {
      if (cpuSamples.length >= 2) ok();
      else onCpu = () => cpuSamples.length >= 2 && ok();
    }).catch(() => undefined);
    const serverCpu = cpuSamples.length >= 2 ? cpuFraction(cpuSamples[0]!, cpuSamples[1]!) : Number.NaN;
    return {
      scenario: scenario.name,
      server: kind,
      run: run + 1,
      messagesPerSecond: result.messages / result.seconds,
      megabytesPerSecond: result.payloadBytes / result.seconds / 1e6,
      serverCpu,
      loadCpu: result.cpu,
      info: ready.info,
    };
  } finally {
    if (load !== null && load.exitCode === null) load.kill('SIGKILL');
    await stopServer(server);
  }
}

// Report ---------------------------------------------------------------------------------------------

function figure(scenario: Scenario, m: Measurement): number {
  return scenario.metric === 'msg/s' ? m.messagesPerSecond : m.megabytesPerSecond;
}

function report(scenario: Scenario, measurements: Measurement[], servers: EchoKind[]): string {
  const mine = measurements.filter((m) => m.scenario === scenario.name);
  const medians = new Map<EchoKind, number>();
  for (const kind of servers)
    medians.set(kind, median(mine.filter((m) => m.server === kind).map((m) => figure(scenario, m))));
  const ws = medians.get('ws') ?? Number.NaN;
  const tcp = medians.get('tcp') ?? Number.NaN;
  const digits = scenario.metric === 'MB/s' ? 1 : 0;
  const rows = servers.map((kind) => {
    const figures = mine.filter((m) => m.server === kind).map((m) => figure(scenario, m));
    const value = medians.get(kind)!;
    const runs = mine.filter((m) => m.server === kind);
    return [
      SERVER_LABELS[kind],
      formatNumber(value, digits),
      figures.length > 0
        ? `${formatNumber(Math.min(...figures), digits)} - ${formatNumber(Math.max(...figures), digits)}`
        : 'n/a',
      kind === 'ws' ? '1.00x' : formatRatio(value / ws),
      formatPercent(value / tcp),
      formatNumber(median(runs.map((m) => figure(scenario, m) / m.serverCpu)), digits),
      formatPercent(median(runs.map((m) => m.serverCpu))),
      formatPercent(median(runs.map((m) => m.loadCpu))) +
        (median(runs.map((m) => m.loadCpu)) >= GENERATOR_BOUND ? ' (!)' : ''),
      String(figures.length),
    ];
  });
  const lines = [
    `### ${scenario.title}`,
    '',
    markdownTable(
      [
        'server',
        `median ${scenario.metric}`,
        'min - max',
        'vs ws',
        'of raw TCP',
        `${scenario.metric} per server core`,
        'server CPU',
        'load-gen CPU',
        'runs',
      ],
      rows,
    ),
    '',
  ];
  if (rows.some((row) => row[7]!.endsWith('(!)'))) {
    lines.push(
      '(!) the load generator was near one full core: that figure may be limited by the generator, ' +
        'not by the server.',
      '',
    );
  }
  const perCore = (kind: EchoKind) =>
    median(mine.filter((m) => m.server === kind).map((m) => figure(scenario, m) / m.serverCpu));
  for (const kind of ['conduit', 'conduit-ts'] as const) {
    const value = medians.get(kind);
    if (value === undefined || !Number.isFinite(ws)) continue;
    lines.push(
      `${SERVER_LABELS[kind]} / ws = **${formatRatio(value / ws)}** (median ${scenario.metric}; ` +
        `target >= ${scenario.target}x: ${value / ws >= scenario.target ? 'met' : 'NOT met'}); ` +
        `per server core: ${formatRatio(perCore(kind) / perCore('ws'))}; of raw TCP: ${formatPercent(value / tcp)}`,
      '',
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions();
  const started = new Date();
  const cpu = cpus();
  console.log(`# Conduit benchmark, ${started.toISOString()}`);
  console.log(
    `node ${process.version}, ${cpu.length} CPUs (${cpu[0]?.model.trim() ?? 'unknown'}), ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(
    `runs ${options.runs}, warm-up ${options.warmupMs / 1000} s, measured ${options.durationMs / 1000} s, ` +
      `servers ${options.servers.join(',')}${options.cpuProfDir ? `, profiles in ${options.cpuProfDir}` : ''}\n`,
  );
  const measurements: Measurement[] = [];
  const infos = new Map<EchoKind, string>();
  const echoServers = echoKinds(options.servers);
  let failures = 0;
  for (const scenario of options.scenarios) {
    for (let run = 0; run < options.runs; run++) {
      // Rotate the order so no server always runs first (or right after another one).
      const order = echoServers.map((_, i) => echoServers[(i + run) % echoServers.length]!);
      for (const kind of order) {
        const label = `[${scenario.name} ${run + 1}/${options.runs}] ${kind.padEnd(7)}`;
        try {
          const m = await measure(scenario, kind, run, options);
          measurements.push(m);
          infos.set(kind, m.info);
          const value = figure(scenario, m);
          console.log(
            `${label} ${formatNumber(value, scenario.metric === 'MB/s' ? 1 : 0).padStart(10)} ${scenario.metric}` +
              `  (server CPU ${formatPercent(m.serverCpu)}, load-gen CPU ${formatPercent(m.loadCpu)})`,
          );
        } catch (error) {
          failures++;
          console.log(`${label} FAILED: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
    }
  }
  const deflate = await runDeflateScenarios(options);
  failures += deflate.failures;
  const scale = await runScaleScenarios(options);
  failures += scale.failures;
  console.log('\n## Results (medians)\n');
  // The echo servers' own lines; the scale scenarios list theirs under their tables.
  if (options.scenarios.length > 0) {
    for (const kind of echoServers) {
      console.log(`- ${SERVER_LABELS[kind]}: ${infos.get(kind) ?? 'no successful run'}`);
    }
    console.log('');
  }
  for (const scenario of options.scenarios) console.log(report(scenario, measurements, echoServers));
  for (const section of deflate.reports) console.log(section);
  for (const section of scale.reports) console.log(section);
  const seconds = (Date.now() - started.getTime()) / 1000;
  console.log(
    `MB = 10^6 bytes of payload echoed. Wall time ${seconds.toFixed(0)} s, ${failures} failed run(s), ` +
      `load average now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}.`,
  );
  if (options.cpuProfDir !== null) {
    console.log(`CPU profiles of the Conduit server: ${options.cpuProfDir}`);
    console.log('Summarise one with: node dist/bench/profile-summary.js <file.cpuprofile>');
  }
  if (options.json !== null) {
    writeFileSync(
      options.json,
      JSON.stringify(
        {
          started: started.toISOString(),
          options,
          measurements,
          echoDeflate: deflate.measurements,
          scale: scale.measurements,
        },
        null,
        2,
      ),
    );
  }
  process.exitCode = failures > 0 ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  killAll();
  process.exit(2);
});
