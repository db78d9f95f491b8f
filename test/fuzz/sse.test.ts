/** Fuzz target sse (targets/sse.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { sseTarget } from './targets/sse.js';

fuzzSuite(sseTarget);
