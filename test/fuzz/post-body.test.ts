/** Fuzz target post-body (targets/post-body.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { postBodyTarget } from './targets/post-body.js';

fuzzSuite(postBodyTarget);
