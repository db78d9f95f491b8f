#!/usr/bin/env node
/**
 * conduit serve | connect | cluster | bench transports
 */
import { runBenchTransports } from './bench-transports.js';
import { runCluster } from './cluster.js';
import { runConfig } from './config.js';
import { runConnect } from './connect.js';
import { runServe } from './serve.js';

const USAGE = `Usage:
  conduit serve   [--config FILE] [--host H] [--port P] [--tls-cert FILE --tls-key FILE]
  conduit config  init [FILE] | check FILE | schema
  conduit connect <url> [--subprotocol P]... [--header "Name: value"]... [--show-frames] [--echo] [--insecure]
  conduit cluster [--nodes 3] [--port 8080] [--redis redis://127.0.0.1:6379]
  conduit bench transports [--subscribers N] [--runs N] [--json FILE] [--svg FILE]

Run 'conduit <command> --help' for details.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'connect':
      return runConnect(rest);
    case 'config':
      return runConfig(rest);
    case 'cluster':
      return runCluster(rest);
    case 'bench':
      if (rest[0] === 'transports') return runBenchTransports(rest.slice(1));
      process.stderr.write(
        `conduit bench: the one benchmark here is 'transports' (npm run bench has the rest)\n`,
      );
      return 2;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`conduit: unknown command '${command}'\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`conduit: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
