/** Every fuzz target, by name. */
import type { FuzzTarget } from '../engine/target.js';
import { httpHeadTarget } from './http-head.js';
import { hubMessageTarget } from './hub-message.js';
import { postBodyTarget } from './post-body.js';
import { sseTarget } from './sse.js';
import { wsDeflateTarget } from './ws-deflate.js';

export const targets: Readonly<Record<string, FuzzTarget>> = {
  [wsDeflateTarget.name]: wsDeflateTarget,
  [httpHeadTarget.name]: httpHeadTarget,
  [sseTarget.name]: sseTarget,
  [hubMessageTarget.name]: hubMessageTarget,
  [postBodyTarget.name]: postBodyTarget,
};
