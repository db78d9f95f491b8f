import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseExtensions } from '../../../src/protocol/ws/extensions.js';
import {
  acceptResponse,
  buildOffer,
  DeflateNegotiationError,
  negotiateAsServer,
} from '../../../src/protocol/ws/permessage-deflate.js';

const one = (header: string) => parseExtensions(header)[0]!;

describe('permessage-deflate negotiation, server role (RFC 7692 section 7.1)', () => {
  it('accepts the plain offer browsers send, letting the client use a 15-bit window', () => {
    const result = negotiateAsServer(parseExtensions('permessage-deflate; client_max_window_bits'));
    assert.ok(result !== null);
    assert.equal(result.response, 'permessage-deflate');
    assert.deepEqual(result.agreement, {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    });
  });

  it('answers an offered server_no_context_takeover, and can impose it itself (shared mode)', () => {
    const offered = negotiateAsServer(parseExtensions('permessage-deflate; server_no_context_takeover'));
    assert.equal(offered?.response, 'permessage-deflate; server_no_context_takeover');
    const imposed = negotiateAsServer(parseExtensions('permessage-deflate'), {
      serverNoContextTakeover: true,
    });
    assert.equal(imposed?.response, 'permessage-deflate; server_no_context_takeover');
    assert.equal(imposed?.agreement.serverNoContextTakeover, true);
  });

  it('answers server_max_window_bits with a value no larger than the offered one', () => {
    const r = negotiateAsServer(parseExtensions('permessage-deflate; server_max_window_bits=10'), {
      serverMaxWindowBits: 12,
    });
    assert.equal(r?.response, 'permessage-deflate; server_max_window_bits=10');
    assert.equal(r?.agreement.serverMaxWindowBits, 10);
    const own = negotiateAsServer(parseExtensions('permessage-deflate'), { serverMaxWindowBits: 11 });
    assert.equal(own?.response, 'permessage-deflate; server_max_window_bits=11');
  });

  it('limits the client window only when the client offered client_max_window_bits', () => {
    const limited = negotiateAsServer(parseExtensions('permessage-deflate; client_max_window_bits'), {
      clientMaxWindowBits: 10,
    });
    assert.equal(limited?.response, 'permessage-deflate; client_max_window_bits=10');
    const notOffered = negotiateAsServer(parseExtensions('permessage-deflate'), { clientMaxWindowBits: 10 });
    assert.equal(notOffered?.response, 'permessage-deflate');
    assert.equal(notOffered?.agreement.clientMaxWindowBits, 15);
  });

  it('declines offers it cannot honour or that are malformed, and accepts the next one', () => {
    for (const bad of [
      'permessage-deflate; server_max_window_bits=8',
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=010',
      'permessage-deflate; server_max_window_bits',
      'permessage-deflate; client_max_window_bits=7',
      'permessage-deflate; server_no_context_takeover=1',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; unknown_parameter',
    ]) {
      assert.equal(negotiateAsServer(parseExtensions(bad)), null, bad);
      const next = negotiateAsServer(
        parseExtensions(`${bad}, permessage-deflate; client_no_context_takeover`),
      );
      assert.equal(next?.response, 'permessage-deflate; client_no_context_takeover', bad);
    }
  });

  it('ignores extensions it does not know', () => {
    assert.equal(negotiateAsServer(parseExtensions('x-webkit-deflate-frame')), null);
  });
});

describe('permessage-deflate negotiation, client role (RFC 7692 section 7.1)', () => {
  it('offers client_max_window_bits so a server may limit the client window', () => {
    assert.equal(buildOffer(), 'permessage-deflate; client_max_window_bits');
    assert.equal(
      buildOffer({
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 10,
        clientMaxWindowBits: 12,
      }),
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12',
    );
  });

  it('accepts what the server may answer and reports the agreement', () => {
    const a = acceptResponse(
      one(
        'permessage-deflate; server_no_context_takeover; client_max_window_bits=11; server_max_window_bits=12',
      ),
    );
    assert.deepEqual(a, {
      serverNoContextTakeover: true,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 12,
      clientMaxWindowBits: 11,
    });
  });

  it('fails on a response the offer did not allow', () => {
    const cases: Array<[string, Parameters<typeof acceptResponse>[1]]> = [
      ['permessage-deflate; unknown', {}],
      ['permessage-deflate; client_max_window_bits', {}],
      ['permessage-deflate; client_max_window_bits=13', { clientMaxWindowBits: 12 }],
      ['permessage-deflate; client_max_window_bits=8', {}],
      ['permessage-deflate', { serverNoContextTakeover: true }],
      ['permessage-deflate', { serverMaxWindowBits: 10 }],
      ['permessage-deflate; server_max_window_bits=11', { serverMaxWindowBits: 10 }],
      ['permessage-deflate; server_max_window_bits=7', {}],
      ['permessage-deflate; client_no_context_takeover; client_no_context_takeover', {}],
      ['other-extension', {}],
    ];
    for (const [header, config] of cases) {
      assert.throws(() => acceptResponse(one(header), config), DeflateNegotiationError, header);
    }
  });

  it('agrees with the server on every parameter when both sides run the negotiation', () => {
    const configs = [
      {},
      { serverNoContextTakeover: true },
      { clientNoContextTakeover: true, clientMaxWindowBits: 10 },
    ];
    for (const clientConfig of configs) {
      for (const serverConfig of configs) {
        const server = negotiateAsServer(parseExtensions(buildOffer(clientConfig)), serverConfig);
        assert.ok(server !== null);
        const client = acceptResponse(one(server.response), clientConfig);
        assert.equal(client.serverNoContextTakeover, server.agreement.serverNoContextTakeover);
        assert.equal(client.clientNoContextTakeover, server.agreement.clientNoContextTakeover);
        assert.equal(client.serverMaxWindowBits, server.agreement.serverMaxWindowBits);
        assert.ok(client.clientMaxWindowBits <= server.agreement.clientMaxWindowBits);
      }
    }
  });
});
