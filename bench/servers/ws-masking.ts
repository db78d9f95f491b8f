/**
 * Which masking kernel ws actually loaded, read from ws's own lib/buffer-util.js, so a silent fallback
 * to JavaScript cannot go unnoticed. Used by the ws echo servers (plain and compressed).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

export function wsMaskingKernel(): string {
  const wsDir = dirname(require.resolve('ws'));
  const wsVersion = (require('ws/package.json') as { version: string }).version;
  const bufferUtil = require(join(wsDir, 'lib', 'buffer-util.js')) as { mask: () => void };
  const source = bufferUtil.mask.toString();
  let kernel: string;
  if (source.includes('bufferUtil.mask')) {
    const addon = require('bufferutil') as { mask: () => void };
    const native = addon.mask.toString().includes('[native code]');
    kernel = native ? 'bufferutil (native addon)' : 'bufferutil (JS fallback!)';
  } else if (source.includes('websocketMask')) {
    kernel = 'node:http websocketMask';
  } else {
    kernel = 'JavaScript (no bufferutil!)';
  }
  const env = process.env.WS_NO_BUFFER_UTIL;
  return `ws ${wsVersion}, masking: ${kernel}, WS_NO_BUFFER_UTIL=${env === undefined ? 'unset' : env}`;
}
