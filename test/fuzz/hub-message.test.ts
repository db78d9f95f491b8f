/** Fuzz target hub-message (targets/hub-message.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { hubMessageTarget } from './targets/hub-message.js';

fuzzSuite(hubMessageTarget);
