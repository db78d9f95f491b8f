/** Fuzz target http-head (targets/http-head.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { httpHeadTarget } from './targets/http-head.js';

fuzzSuite(httpHeadTarget);
