/** Fuzz target ws-deflate (targets/ws-deflate.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { wsDeflateTarget } from './targets/ws-deflate.js';

fuzzSuite(wsDeflateTarget);
