/** Fuzz target http-head (targets/http-head.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { httpHeadTarget } from './targets/http-head.js';

fuzzSuite(httpHeadTarget, {
  known: {
    // Bug: util/tokens.ts `splitList` (behind `hasToken`) and handshake.ts trim header values with
    // String.prototype.trim, which also strips U+00A0: the head is read as latin1, so a 0xA0 byte
    // (obs-text) passes for whitespace, and "Connection: \xa0Upgrade" is taken for "Upgrade" (RFC 9110
    // section 5.6.3: OWS is SP and HTAB only).
    'crash-730829b4a51047b3': 'U+00A0 taken for whitespace in the upgrade headers (String.prototype.trim)',
  },
});
