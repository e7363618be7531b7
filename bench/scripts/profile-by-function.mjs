// Reads what core-profile.sh wrote for two runs of core-loop.mjs (callgrind's costs by function, and V8's
// map of its compiled code) and prints the instructions per cycle of each function: the difference between
// the long run and the short one, divided by the cycles between them, so that start-up cancels out.
// Usage: node bench/scripts/profile-by-function.mjs <directory> <short cycles> <long cycles> [how many to show]
import { readFileSync } from 'node:fs';

const [directory, shortRun, longRun, shownText = '40'] = process.argv.slice(2);
if (directory === undefined || shortRun === undefined || longRun === undefined) {
  throw new Error('Usage: node profile-by-function.mjs <directory> <short cycles> <long cycles> [how many to show]');
}

/** V8's code ranges of one run, sorted by start: `[start, size, name]`. */
function codeRangesOf(cycles) {
  const ranges = readFileSync(`${directory}/perf.${cycles}`, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [start, size, ...name] = line.split(' ');
      return [Number.parseInt(start, 16), Number.parseInt(size, 16), name.join(' ')];
    });
  return ranges.sort((a, b) => a[0] - b[0]);
}

/** The name of the code at `address`: the last range that starts at or before it, if it covers it. */
function nameAt(ranges, address) {
  let low = 0;
  let high = ranges.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (ranges[middle][0] <= address) {
      found = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  if (found === -1 || address >= ranges[found][0] + ranges[found][1]) return 'code V8 did not name';
  return ranges[found][2].replace(/file:\/\/\S*?\/(packages\/redlock-core\/|bench\/)/, '').replace(/^JS:/, '');
}

/** Instructions by function name in one run. */
function costsOf(cycles) {
  const ranges = codeRangesOf(cycles);
  const costs = new Map();
  for (const line of readFileSync(`${directory}/annotated.${cycles}`, 'utf8').split('\n')) {
    const match = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (match === null || match[2].includes('PROGRAM TOTALS')) continue;
    const instructions = Number(match[1].replaceAll(',', ''));
    const place = match[2];
    const jitted = /^\?\?\?:0x([0-9a-f]+) /.exec(place);
    const name = jitted === null ? place.replace(/^\S*?:/, '').replace(/ \[.*$/, '') : nameAt(ranges, Number.parseInt(jitted[1], 16));
    costs.set(name, (costs.get(name) ?? 0) + instructions);
  }
  return costs;
}

const short = costsOf(shortRun);
const long = costsOf(longRun);
const cycles = Number(longRun) - Number(shortRun);
const perCycle = [...new Set([...short.keys(), ...long.keys()])].map((name) => [name, ((long.get(name) ?? 0) - (short.get(name) ?? 0)) / cycles]);
const total = perCycle.reduce((sum, [, count]) => sum + count, 0);
console.log(`${Math.round(total)} instructions per acquire+release, by function:`);
for (const [name, count] of perCycle.sort((a, b) => b[1] - a[1]).slice(0, Number(shownText))) {
  console.log(`${String(Math.round(count)).padStart(7)}  ${name.length > 110 ? `${name.slice(0, 107)}...` : name}`);
}
