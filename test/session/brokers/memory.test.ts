import { describe } from 'node:test';
import { MemoryBroker } from '../../../src/session/brokers/memory.js';
import { brokerContract } from './contract.js';

describe('MemoryBroker: the broker contract', () => {
  const broker = new MemoryBroker({ history: { maxCount: 5 } });
  brokerContract({ node: async () => broker });
});
