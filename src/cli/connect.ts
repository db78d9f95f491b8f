import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { FrameInfo } from '../protocol/ws/connection.js';
import { opcodeName } from '../protocol/ws/opcodes.js';
import { connect } from '../transports/ws/client.js';
import { parseDeflateMode } from './serve.js';

const HELP = `Usage: conduit connect <url> [options]

An interactive WebSocket client: type a line to send it as a text message; incoming messages are
printed as they come ("<" in, ">" out). End input (Ctrl-D) to close with 1000.

  --subprotocol P     offer a subprotocol (repeatable, in order of preference)
  --header "N: V"     add a request header (repeatable)
  --show-frames       print every frame in and out: opcode, FIN, RSV bits, length
  --echo              echo every message back with its type; exit 0 when the server closes
                      cleanly, printing the close code
  --insecure          accept any TLS certificate (wss:// to a self-signed server)
  --max-payload N     largest message accepted, bytes (default 16777216)
  --deflate MODE      offer permessage-deflate: dedicated (default, context takeover), shared
                      (client_no_context_takeover) or off`;

export async function runConnect(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      subprotocol: { type: 'string', multiple: true, default: [] },
      header: { type: 'string', multiple: true, short: 'H', default: [] },
      'show-frames': { type: 'boolean', default: false },
      echo: { type: 'boolean', default: false },
      insecure: { type: 'boolean', default: false },
      'max-payload': { type: 'string' },
      deflate: { type: 'string', default: 'dedicated' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new Error('connect takes exactly one URL');
  const headers: Record<string, string> = {};
  for (const line of values.header) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`--header expects "Name: value", got '${line}'`);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  const maxPayload = values['max-payload'] === undefined ? undefined : Number(values['max-payload']);
  const out = (line: string) => process.stdout.write(`${line}\n`);

  const ws = await connect(positionals[0]!, {
    protocols: values.subprotocol,
    headers,
    inspectFrames: values['show-frames'],
    maxPayload,
    perMessageDeflate: parseDeflateMode(values.deflate),
    tls: values.insecure ? { rejectUnauthorized: false } : undefined,
  });
  if (!values.echo)
    out(
      `connected${ws.protocol ? ` (subprotocol: ${ws.protocol})` : ''}${
        ws.extensions ? ` (extensions: ${ws.extensions})` : ''
      }; type to send, Ctrl-D to close`,
    );
  ws.on('frame', (f) => out(describeFrame(f)));
  ws.on('error', (error) => process.stderr.write(`error: ${error.message}\n`));

  if (values.echo) {
    ws.on('message', (data, isBinary) => {
      ws.send(isBinary ? data : data.toString('utf8'));
    });
  } else {
    ws.on('message', (data, isBinary) =>
      out(isBinary ? `< [binary ${data.length} bytes] ${preview(data)}` : `< ${data.toString('utf8')}`),
    );
    ws.on('ping', (p) => out(`< ping ${p.length ? preview(p) : ''}`.trimEnd()));
    const rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (line) => {
      if (ws.readyState === 1) ws.send(line);
    });
    rl.on('close', () => {
      if (ws.readyState === 1) ws.close(1000);
    });
    ws.on('close', () => rl.close());
  }

  return new Promise<number>((resolve) => {
    ws.on('close', (code, reason, wasClean) => {
      out(`closed: ${code}${reason ? ` ${reason}` : ''}${wasClean ? '' : ' (not clean)'}`);
      resolve(wasClean ? 0 : 1);
      // stdin may still hold the event loop open.
      setImmediate(() => process.exit(wasClean ? 0 : 1));
    });
  });
}

function describeFrame(f: FrameInfo): string {
  const rsv = `${+f.rsv1}${+f.rsv2}${+f.rsv3}`;
  const dir = f.direction === 'in' ? '<<' : '>>';
  return `${dir} ${opcodeName(f.opcode).padEnd(12)} fin=${+f.fin} rsv=${rsv} mask=${+f.masked} len=${f.length}`;
}

function preview(data: Buffer): string {
  const hex = data.subarray(0, 16).toString('hex').replace(/(..)/g, '$1 ').trim();
  return data.length > 16 ? `${hex} ...` : hex;
}
