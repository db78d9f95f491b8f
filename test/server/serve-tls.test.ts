import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { connect, type RunningServer, startServer, WebSocket } from '../../src/index.js';
import { makeSelfSignedCertificate } from '../support/tls.js';

let cert: Buffer;
let server: RunningServer;

before(async () => {
  const certificate = makeSelfSignedCertificate();
  cert = certificate.cert;
  server = await startServer({ port: 0, tls: certificate });
});

after(async () => {
  await server.close();
});

describe('conduit serve over TLS', () => {
  it('serves the demo page over https', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      get(`${server.url}/`, { ca: cert }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString();
        });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    assert.match(server.url, /^https:/);
    assert.match(body, /<title>Conduit · live demo<\/title>/);
  });

  it('echoes over wss: with the certificate trusted through the tls option', async () => {
    const client = await connect(`wss://127.0.0.1:${server.port}/echo`, { tls: { ca: cert } });
    client.send('secure');
    const [data, isBinary] = await once(client, 'message');
    assert.equal(String(data), 'secure');
    assert.equal(isBinary, false);
    client.close(1000);
    const [code] = await once(client, 'close');
    assert.equal(code, 1000);
  });

  it('refuses an untrusted certificate unless told otherwise', async () => {
    await assert.rejects(connect(`wss://127.0.0.1:${server.port}/echo`), /self[- ]signed|certificate/i);
    const ws = new WebSocket(`wss://127.0.0.1:${server.port}/echo`, [], {
      tls: { rejectUnauthorized: false },
    });
    await once(ws, 'open');
    ws.close();
    await once(ws, 'close');
  });
});
