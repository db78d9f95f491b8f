/**
 * What every server-under-test process shares: announce the port once listening, answer CPU-usage
 * requests, stop cleanly on request (so `--cpu-prof` can write its profile), and never outlive the
 * orchestrator: exit when the IPC channel goes away or after a hard lifetime limit.
 */
import { cpuSample, type ServerCommand, type ServerMessage } from '../protocol.js';

/** A server process exits by itself after this long, whatever happens (ms); argv[2] overrides. */
const DEFAULT_LIFETIME_MS = 120_000;

export interface Harness {
  ready(port: number, info: string): void;
}

export function startHarness(stop: () => Promise<void> | void): Harness {
  const send = (message: ServerMessage): void => {
    if (process.connected && process.send !== undefined) process.send(message);
  };
  if (process.send === undefined) {
    console.error('this server is meant to be started by bench/run.js (child_process.fork)');
    process.exit(2);
  }
  const lifetime = Number(process.argv[2] ?? DEFAULT_LIFETIME_MS);
  const deadline = setTimeout(() => {
    console.error(`server ${process.pid}: lifetime of ${lifetime} ms exceeded, exiting`);
    process.exit(3);
  }, lifetime);
  deadline.unref();

  let stopping = false;
  const shutdown = (code: number): void => {
    if (stopping) return;
    stopping = true;
    // Give a graceful stop a moment, then leave regardless; process.exit still writes a --cpu-prof.
    const force = setTimeout(() => process.exit(code), 2000);
    force.unref();
    Promise.resolve()
      .then(stop)
      .catch(() => undefined)
      .finally(() => process.exit(code));
  };
  process.on('message', (raw: unknown) => {
    const command = raw as ServerCommand;
    if (command.type === 'cpu') send({ type: 'cpu', sample: cpuSample() });
    else if (command.type === 'stop') shutdown(0);
  });
  process.on('disconnect', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));
  return {
    ready(port, info) {
      send({ type: 'ready', port, info });
    },
  };
}
