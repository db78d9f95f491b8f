import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseInteger } from './serve.js';

const HELP = `Usage: conduit cluster [options]

  --nodes N         how many nodes (default 3)
  --port P          the first node's port; the others take the next ones (default 8080)
  --host H          address to listen on (default 127.0.0.1)
  --redis URL       the Redis they share (default redis://127.0.0.1:6379)
  --redis-prefix P  key prefix (default conduit:)

Starts N \`conduit serve --redis\` nodes on consecutive ports, for demos and tests: a message published
on any node reaches subscribers on every node, and a client may move between them. The demo page shows
which node a client is on. Ctrl-C stops them all (clients get 1001 and reconnect).`;

/** Returns -1: the process stays up until a signal. */
export async function runCluster(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      host: { type: 'string', default: '127.0.0.1' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      'redis-prefix': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const count = parseInteger(values.nodes, '--nodes');
  if (count < 1 || count > 64) throw new Error('--nodes expects 1 to 64');
  const first = parseInteger(values.port, '--port');
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    const args = ['serve', '--host', values.host, '--port', String(first + i), '--redis', values.redis];
    if (values['redis-prefix'] !== undefined) args.push('--redis-prefix', values['redis-prefix']);
    const child = fork(main, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const tag = `[node ${i + 1}] `;
    child.stdout?.on('data', (chunk: Buffer) => process.stdout.write(prefixLines(tag, chunk.toString())));
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(prefixLines(tag, chunk.toString())));
    child.on('exit', (code, signal) => {
      process.stdout.write(`${tag}exited (${signal ?? code})\n`);
      if (!stopping && children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(1);
    });
    children.push(child);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    for (const child of children) child.kill('SIGTERM');
    Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve)))).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return -1;
}

function prefixLines(tag: string, text: string): string {
  return text.replace(/^(?=.)/gm, tag);
}
