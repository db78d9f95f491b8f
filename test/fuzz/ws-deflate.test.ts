/** Fuzz target ws-deflate (targets/ws-deflate.ts): the corpus, then a short mutation run. `npm run fuzz` runs it long. */
import { fuzzSuite } from './engine/suite.js';
import { wsDeflateTarget } from './targets/ws-deflate.js';

fuzzSuite(wsDeflateTarget, {
  known: {
    // Bug: transports/ws/connection.ts `onSocketEnd` ends the socket's write side as soon as the client's
    // FIN arrives, while a compressed message is still inflating in the thread pool. Whatever the server
    // owes after that message is then never written: here the echo of the client's close frame (1000),
    // though 'close' reports 1000 and wasClean true; likewise a 1007/1009 close frame or a pong.
    'crash-790aee5ccf9b5904':
      'a FIN during an inflation: the close frame owed after the message is never written (onSocketEnd)',
  },
});
