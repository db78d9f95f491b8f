/**
 * Configuration: a file (JSON or YAML), CONDUIT_ variables and flags merged in that order of
 * precedence and validated once; every problem names its source, the key and what was expected.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ConfigError, envName, loadConfig, redacted } from '../../src/config/load.js';
import { ConfigSchema, configJsonSchema } from '../../src/config/schema.js';
import { STARTER_YAML } from '../../src/config/starter.js';

async function file(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'conduit-config-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function problems(promise: Promise<unknown>): Promise<readonly string[]> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('loadConfig', () => {
  it('fills in the defaults when nothing is given', async () => {
    const config = await loadConfig();
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.deflate, 'shared');
    assert.ok(Object.isFrozen(config));
  });

  it('takes flags over the environment over the file, key by key', async () => {
    const yaml = await file(
      'c.yaml',
      'port: 9000\nhost: 0.0.0.0\nadmission:\n  maxSessionsPerAddress: 5\n  newSessionsPerSecond: 2\n',
    );
    const config = await loadConfig({
      file: yaml,
      env: {
        CONDUIT_PORT: '9100',
        CONDUIT_ADMISSION_TRUSTED_PROXIES: '10.0.0.1, 10.0.0.2',
        CONDUIT_DEMO: 'false',
      },
      flags: {
        values: { port: 9200, admission: { newSessionsPerSecond: 7 } },
        names: new Map([['port', '--port']]),
      },
    });
    assert.equal(config.port, 9200, 'the flag');
    assert.equal(config.host, '0.0.0.0', 'the file');
    assert.equal(config.demo, false, 'the environment');
    assert.deepEqual(config.admission, {
      maxSessionsPerAddress: 5,
      newSessionsPerSecond: 7,
      trustedProxies: ['10.0.0.1', '10.0.0.2'],
    });
  });

  it('reads JSON as well as YAML', async () => {
    const json = await file(
      'c.json',
      JSON.stringify({ port: 0, deflate: 'off', redis: { url: 'redis://r:6379' } }),
    );
    const config = await loadConfig({ file: json });
    assert.deepEqual(
      [config.port, config.deflate, config.redis?.url, config.redis?.prefix],
      [0, 'off', 'redis://r:6379', 'conduit:'],
    );
  });

  it('names the file, the key and what was expected for every problem, all at once', async () => {
    const yaml = await file(
      'bad.yaml',
      'port: "eighty"\nadmision: {}\nredis:\n  cluster: [nodeport]\n  url: redis://x\n',
    );
    const found = await problems(loadConfig({ file: yaml }));
    assert.deepEqual(found.length, 4, found.join('\n'));
    assert.ok(
      found.some((p) => p === `${yaml}: port: Invalid input: expected number, received string`),
      found.join('\n'),
    );
    assert.ok(found.some((p) => p === `${yaml}: admision: unknown key`));
    assert.ok(found.some((p) => p === `${yaml}: redis.cluster.0: expected host:port`));
    assert.ok(found.some((p) => p === `${yaml}: redis: give exactly one of url, cluster and sentinels`));
  });

  it('names the variable for a bad or unknown CONDUIT_ variable, and ignores process switches', async () => {
    const found = await problems(
      loadConfig({
        env: { CONDUIT_PORTT: '1', CONDUIT_MAX_PAYLOAD: 'big', CONDUIT_NO_WASM_MASK: '1', HOME: '/root' },
      }),
    );
    assert.deepEqual([...found].sort(), [
      "CONDUIT_MAX_PAYLOAD (environment): maxPayload: expected an integer, got 'big'",
      'CONDUIT_PORTT (environment): no such setting',
    ]);
  });

  it('names the flags behind an object-level problem', async () => {
    const names = new Map([
      ['redis.url', '--redis'],
      ['redis.cluster', '--redis-cluster'],
    ]);
    const found = await problems(
      loadConfig({ flags: { values: { redis: { url: 'redis://x', cluster: ['a:1'] } }, names } }),
    );
    assert.deepEqual(found, [
      '--redis and --redis-cluster: redis: give exactly one of url, cluster and sentinels',
    ]);
  });

  it('says so when a file cannot be read or parsed', async () => {
    assert.match(
      (await problems(loadConfig({ file: '/nonexistent/conduit.yaml' })))[0]!,
      /cannot be read \(ENOENT\)/,
    );
    const broken = await file('broken.json', '{"port": 1,');
    assert.match((await problems(loadConfig({ file: broken })))[0]!, /broken\.json: not valid JSON/);
    const list = await file('list.yaml', '- 1\n- 2\n');
    assert.match((await problems(loadConfig({ file: list })))[0]!, /expected a mapping of settings/);
  });

  it('has a variable for every setting, CONDUIT_ and the path in upper snake case', () => {
    assert.equal(envName(['admission', 'trustedProxies']), 'CONDUIT_ADMISSION_TRUSTED_PROXIES');
    assert.equal(envName(['heartbeatMs']), 'CONDUIT_HEARTBEAT_MS');
  });

  it('hides the Redis password, the token secret and the API key from what it logs', async () => {
    const secret = 'a-token-secret-of-at-least-32-bytes!!';
    const config = await loadConfig({
      env: {
        CONDUIT_REDIS_URL: 'redis://:s3cret@redis:6379/0',
        CONDUIT_ACCESS_TOKEN_SECRET: secret,
        CONDUIT_API_KEY: 'an-api-key-for-backends',
      },
    });
    assert.equal(config.api?.key, 'an-api-key-for-backends');
    assert.equal(config.access?.tokenSecret, secret);
    assert.equal(redacted(config).redis?.url, 'redis://***@redis:6379/0');
    assert.doesNotMatch(JSON.stringify(redacted(config)), /s3cret|a-token-secret|an-api-key/);
  });

  it('refuses a token secret under 32 bytes, naming the variable', async () => {
    const found = await problems(loadConfig({ env: { CONDUIT_ACCESS_TOKEN_SECRET: 'short' } }));
    assert.equal(found.length, 1);
    assert.match(found[0]!, /^CONDUIT_ACCESS_TOKEN_SECRET \(environment\): access\.tokenSecret: /);
  });

  it('ships a starter file (conduit config init) that validates and states the defaults', async () => {
    const parsed = ConfigSchema.parse(parseYaml(STARTER_YAML));
    assert.equal(parsed.port, 8080);
    assert.equal(parsed.admission?.newSessionsPerSecond, 10);
  });

  it('publishes the JSON Schema it validates with (docs/conduit.config.schema.json is up to date)', () => {
    const committed = JSON.parse(
      readFileSync(new URL('../../../docs/conduit.config.schema.json', import.meta.url), 'utf8'),
    ) as unknown;
    assert.deepEqual(
      committed,
      configJsonSchema(),
      'run: node dist/src/cli/main.js config schema > docs/conduit.config.schema.json',
    );
  });
});
