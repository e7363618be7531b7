// The core's own work per acquire+release, without Redis: N serial cycles over 5 in-memory nodes that answer
// at once (see core-cycles.mjs). Run by core-instructions.sh under valgrind, which counts the instructions;
// also the lean reference loop, the least a Redlock can do in-process, and node-redlock 5.
// Usage: node bench/scripts/core-loop.mjs <core|lean|redlock5|compat, or one of them with -turns or -far> <cycles>
import { cycleOf } from './core-cycles.mjs';

const [mode, cycles] = [process.argv[2] ?? 'core', Number(process.argv[3] ?? 1000)];
process.removeAllListeners('warning');
process.on('warning', () => undefined);
const cycle = await cycleOf(mode);
for (let index = 0; index < cycles; index += 1) await cycle();
// A `-far` node still has calls in flight, whose timeout timers (stretched, see core-cycles.mjs) would keep
// the process alive for minutes.
process.exit(0);
