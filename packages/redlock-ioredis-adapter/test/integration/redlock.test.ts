import { IoredisAdapter } from '../../src/index.js';
import { describeRedlockSuite } from '../support/redlock-suite.js';

describeRedlockSuite('IoredisAdapter over Redis', (client) => new IoredisAdapter(client));
describeRedlockSuite('IoredisAdapter with a subscriber', (client, connect) => new IoredisAdapter(client, { subscriber: connect() }));
