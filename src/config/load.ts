/**
 * One Config from a file (JSON, or YAML), the environment (CONDUIT_...) and flags, in that order of
 * precedence (a flag wins over the environment, which wins over the file), validated once against the
 * schema (schema.ts). Every problem names where the value came from (the file, the variable or the
 * flag), the key, and what was expected; all of them are reported at once.
 *
 * The environment: every setting has a variable, CONDUIT_ and its path in upper snake case
 * (`admission.trustedProxies` is CONDUIT_ADMISSION_TRUSTED_PROXIES); lists are comma-separated. A
 * CONDUIT_ variable that names no setting is an error (a typo must not pass silently).
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type Config, ConfigSchema, configJsonSchema } from './schema.js';

/** Variables named CONDUIT_ that are not settings (process switches read elsewhere). */
const NOT_SETTINGS = new Set(['CONDUIT_NO_WASM_MASK']);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

type Layer = Record<string, unknown>;

export interface ConfigSources {
  /** A configuration file: .json, .yaml or .yml. */
  file?: string;
  /** The environment (default: none; the CLI passes process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Values from flags, in the shape of the config, and the flag each path came from ('port' -> '--port'). */
  flags?: { values: Layer; names: ReadonlyMap<string, string> };
}

interface Leaf {
  path: string[];
  type: string;
  items?: string;
}

let cachedLeaves: Leaf[] | null = null;

/** Every setting of the schema, with its JSON type. */
function leaves(): Leaf[] {
  if (cachedLeaves !== null) return cachedLeaves;
  const out: Leaf[] = [];
  const walk = (node: Record<string, unknown>, path: string[]) => {
    const properties = node.properties as Record<string, Record<string, unknown>> | undefined;
    if (node.type === 'object' && properties !== undefined) {
      for (const [key, child] of Object.entries(properties)) walk(child, [...path, key]);
      return;
    }
    const items = node.items as Record<string, unknown> | undefined;
    const type = typeof node.type === 'string' ? node.type : 'string';
    out.push({ path, type, ...(typeof items?.type === 'string' ? { items: items.type } : {}) });
  };
  walk(configJsonSchema(), []);
  cachedLeaves = out;
  return out;
}

/** CONDUIT_ and the path in upper snake case. */
export function envName(path: readonly string[]): string {
  return `CONDUIT_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')}`;
}

/**
 * A setting's value from text (a variable or a flag), by its type in the schema: integers, numbers,
 * booleans (true/false/1/0), comma-separated lists. A problem string when the text is not one.
 */
export function valueFromText(path: readonly string[], text: string): unknown {
  const leaf = leaves().find((l) => l.path.join('.') === path.join('.'));
  const type = leaf?.type ?? 'string';
  if (type === 'integer') {
    if (!/^-?\d+$/.test(text.trim())) return new TextProblem(`expected an integer, got '${text}'`);
    return Number(text);
  }
  if (type === 'number') {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) return new TextProblem(`expected a number, got '${text}'`);
    return n;
  }
  if (type === 'boolean') {
    if (/^(true|1)$/i.test(text)) return true;
    if (/^(false|0)$/i.test(text)) return false;
    return new TextProblem(`expected true or false, got '${text}'`);
  }
  if (type === 'array') {
    return text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }
  return text;
}

/** A value that could not be read from text, and why. */
export class TextProblem {
  constructor(readonly message: string) {}
}

function set(layer: Layer, path: readonly string[], value: unknown): void {
  let node = layer;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Layer;
  }
  node[path[path.length - 1]!] = value;
}

function has(layer: Layer, path: readonly (string | number)[]): boolean {
  let node: unknown = layer;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !(key in node)) return false;
    node = (node as Record<string | number, unknown>)[key];
  }
  return true;
}

/** `over` on top of `under`: objects merged key by key, anything else replaced. */
function merge(under: Layer, over: Layer): Layer {
  const out: Layer = { ...under };
  for (const [key, value] of Object.entries(over)) {
    const below = out[key];
    const bothObjects = [value, below].every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
    out[key] = bothObjects ? merge(below as Layer, value as Layer) : value;
  }
  return out;
}

async function fileLayer(file: string, problems: string[]): Promise<Layer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    problems.push(
      `${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
    return {};
  }
  const kind = extname(file).toLowerCase();
  let value: unknown;
  try {
    if (kind === '.json') value = JSON.parse(text);
    else if (kind === '.yaml' || kind === '.yml') value = parseYaml(text);
    else {
      problems.push(`${file}: expected a .json, .yaml or .yml file`);
      return {};
    }
  } catch (error) {
    problems.push(
      `${file}: not valid ${kind === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
    );
    return {};
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${file}: expected a mapping of settings at the top`);
    return {};
  }
  return value as Layer;
}

function envLayer(env: Readonly<Record<string, string | undefined>>, problems: string[]): Layer {
  const layer: Layer = {};
  const known = new Map(leaves().map((leaf) => [envName(leaf.path), leaf.path]));
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith('CONDUIT_') || text === undefined || NOT_SETTINGS.has(name)) continue;
    const path = known.get(name);
    if (path === undefined) {
      problems.push(`${name} (environment): no such setting`);
      continue;
    }
    const value = valueFromText(path, text);
    if (value instanceof TextProblem)
      problems.push(`${name} (environment): ${path.join('.')}: ${value.message}`);
    else set(layer, path, value);
  }
  return layer;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Merge and validate; throws ConfigError with every problem found. */
export async function loadConfig(sources: ConfigSources = {}): Promise<Readonly<Config>> {
  const problems: string[] = [];
  const file = sources.file === undefined ? {} : await fileLayer(sources.file, problems);
  const env = envLayer(sources.env ?? {}, problems);
  const flags = sources.flags?.values ?? {};
  const merged = merge(merge(file, env), flags);
  /** The flag that set `key` (or a list it is in), or the flags that set what is below it. */
  const flagsAt = (key: string): string => {
    const names = sources.flags?.names ?? new Map<string, string>();
    const keys = key.split('.');
    for (let n = keys.length; n > 0; n--) {
      const name = names.get(keys.slice(0, n).join('.'));
      if (name !== undefined) return name;
    }
    const below = [...names].filter(([path]) => path.startsWith(`${key}.`) && has(flags, path.split('.')));
    return below.length === 0 ? 'a flag' : below.map(([, name]) => name).join(' and ');
  };
  /** Where the value at `path` came from: the flag, the variable or the file that set it. */
  const source = (path: readonly (string | number)[]): string => {
    const keys = path.map(String);
    for (let n = keys.length; n > 0; n--) {
      const prefix = keys.slice(0, n);
      if (has(flags, prefix)) return flagsAt(prefix.join('.'));
      if (has(env, prefix)) return `${envName(prefix)} (environment)`;
      if (has(file, prefix)) return sources.file ?? 'the file';
    }
    return sources.file ?? 'the configuration';
  };
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const at = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys)
          problems.push(`${source([...at, key])}: ${[...at, key].join('.')}: unknown key`);
      } else {
        const where = at.length === 0 ? '(top)' : at.join('.');
        problems.push(`${source(issue.path as (string | number)[])}: ${where}: ${issue.message}`);
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data!);
}

/** The configuration with secrets hidden, for logs (the password in a Redis URL, the token secret). */
export function redacted(config: Readonly<Config>): Config {
  const copy = structuredClone(config) as Config;
  if (copy.redis?.url !== undefined) copy.redis.url = copy.redis.url.replace(/\/\/[^@/]*@/, '//***@');
  if (copy.access?.tokenSecret !== undefined) copy.access.tokenSecret = '***';
  if (copy.api !== undefined) copy.api.key = '***';
  return copy;
}
