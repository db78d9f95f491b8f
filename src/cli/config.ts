/**
 * conduit config init [FILE] | check FILE | schema
 */
import { access, writeFile } from 'node:fs/promises';
import { ConfigError, loadConfig } from '../config/load.js';
import { configJsonSchema } from '../config/schema.js';
import { STARTER_YAML } from '../config/starter.js';

const HELP = `Usage:
  conduit config init [FILE]   write a commented starter configuration (default conduit.yaml)
  conduit config check FILE    validate a configuration file (with the CONDUIT_... environment)
  conduit config schema        print the JSON Schema of a configuration file`;

export async function runConfig(argv: string[]): Promise<number> {
  const [command, file, ...rest] = argv;
  if (rest.length > 0) {
    process.stderr.write(`conduit config: unexpected ${rest.join(' ')}\n${HELP}\n`);
    return 2;
  }
  switch (command) {
    case 'init': {
      const target = file ?? 'conduit.yaml';
      const exists = await access(target).then(
        () => true,
        () => false,
      );
      if (exists) {
        process.stderr.write(`conduit config init: ${target} exists; not overwritten\n`);
        return 1;
      }
      await writeFile(target, STARTER_YAML, { flag: 'wx' });
      process.stdout.write(`wrote ${target}: conduit serve --config ${target}\n`);
      return 0;
    }
    case 'check': {
      if (file === undefined) {
        process.stderr.write(`conduit config check: which file?\n${HELP}\n`);
        return 2;
      }
      try {
        await loadConfig({ file, env: process.env });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        process.stderr.write(`${error.message}\n`);
        return 1;
      }
      process.stdout.write(`${file}: ok\n`);
      return 0;
    }
    case 'schema':
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return 0;
    case '-h':
    case '--help':
      process.stdout.write(`${HELP}\n`);
      return 0;
    default:
      process.stderr.write(`${HELP}\n`);
      return 2;
  }
}
