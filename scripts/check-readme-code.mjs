// Compiles and runs the ```ts blocks of every README (the root's and each package's), so they cannot drift
// from the code:
//   - each block becomes a module of its own, type-checked in one strict `tsc` run against the built
//     workspace packages (resolved from examples/, which depends on them);
//   - each runnable block then runs in a Node process of its own against local redis-server nodes (or
//     REDLOCK_TEST_NODES), with its `redis://host:port` URLs rewritten to them in order of appearance, and
//     must exit by itself, with status 0, within RUN_TIMEOUT_MS: a block that forgets to close its clients
//     fails here.
// Names a block uses without defining them get a prelude: `redlock` (the README's setup, closed after
// the block), the user functions the READMEs call (`chargeOrder`, `importFeed`, `rebuildCatalog`, `buildReport`), and a
// missing import of a `redlock-core` export or of node-redis's `RedisClientType`.
// A ```js block is plain JavaScript, as a reader on Node 20 runs it: on top of the above, it must parse
// as an ES module as written (`node --check`, so no type annotations or other TypeScript) and declare
// nothing with `using`, which Node 20 and 22 cannot parse. The blocks a newcomer reads first, the root
// README's up to its Usage section and redlock-core's up to its Guide (FIRST_SCREEN), must be ```js ones.
// It also checks the links within and between the READMEs: each `#anchor` names a heading of the README it
// points into (GitHub's slugs), and each README opens with a `**Contents:**` paragraph linking each of its
// `## ` sections, in order.
// An HTML comment on the line before a block marks an exception, with a reason (keep them few):
//   <!-- readme-code: compile-only, why it cannot run -->
// Further lines of that comment are TypeScript put before the block (declarations the fragment assumes),
// except lines `stub <relative path>: <source>`, which write a module the block imports by that path.
// Needs a build (`pnpm build`). Run: node scripts/check-readme-code.mjs
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ROOT_DIR } from './lib/public-packages.mjs';

const startedAt = performance.now();
/** How long one block may run, in milliseconds, before it counts as hanging. */
const RUN_TIMEOUT_MS = 20_000;
const WORK_DIR = join(ROOT_DIR, 'examples', 'dist', 'readme-code');
const DIRECTIVE = /^<!--\s*readme-code:\s*(compile-only)\b[,:;]?\s*([^\n]*?)\s*(?:-->)?$/;

/** The README files: the root's, then each package's. */
function readmeFiles() {
  const packagesDir = join(ROOT_DIR, 'packages');
  const packageReadmes = readdirSync(packagesDir)
    .map((name) => join('packages', name, 'README.md'))
    .filter((path) => existsSync(join(ROOT_DIR, path)))
    .sort();
  return ['README.md', ...packageReadmes];
}

/**
 * The ```ts and ```js blocks of a README: `{ readme, line (of the first code line), code, language,
 * isFirstScreen, mode, reason, prelude, stubs }`.
 */
function blocksOf(readme) {
  const lines = readFileSync(join(ROOT_DIR, readme), 'utf8').split('\n');
  const firstScreenEnd = firstScreenEndOf(readme, lines);
  const blocks = [];
  for (let index = 0; index < lines.length; index += 1) {
    const fence = /^```(ts|js)$/.exec(lines[index].trim());
    if (fence === null) continue;
    const end = lines.findIndex((line, at) => at > index && line.trim() === '```');
    if (end === -1) throw new Error(`${readme}:${index + 1}: a \`\`\`${fence[1]} block that never ends`);
    const code = lines.slice(index + 1, end).join('\n');
    blocks.push({ readme, line: index + 2, code, language: fence[1], isFirstScreen: index < firstScreenEnd, ...directiveBefore(lines, index) });
    index = end;
  }
  return blocks;
}

/** The `## ` section, per README, up to the end of which a newcomer reads before anything else. */
const FIRST_SCREEN = { 'README.md': 'Usage', 'packages/redlock-core/README.md': 'Guide' };

/** The index of the line where a README's first screen ends (0 when it has none): the `## ` heading after FIRST_SCREEN's. */
function firstScreenEndOf(readme, lines) {
  const section = FIRST_SCREEN[readme];
  if (section === undefined) return 0;
  const start = lines.indexOf(`## ${section}`);
  if (start === -1) throw new Error(`${readme}: no \`## ${section}\` section, where its first screen ends (FIRST_SCREEN)`);
  const end = lines.findIndex((line, at) => at > start && line.startsWith('## '));
  return end === -1 ? lines.length : end;
}

/** Why a block breaks the plain-JavaScript rules (header), or undefined if it does not. */
function plainJavaScriptProblem(block, index) {
  if (block.language === 'ts') {
    return block.isFirstScreen ? 'a ```ts block in the first screen: write it as a ```js block, plain JavaScript that Node 20 runs' : undefined;
  }
  if (/\busing\s+[A-Za-z_$][\w$]*\s*=/.test(block.code)) {
    return 'a `using` declaration, which Node 20 and 22 cannot parse: release in a `finally` block instead';
  }
  const file = join(WORK_DIR, `block-${index}`, 'as-written.mjs');
  writeFileSync(file, `${block.code}\n`);
  try {
    execFileSync(process.execPath, ['--check', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return undefined;
  } catch (error) {
    const syntaxError = `${error.stderr ?? ''}`.split('\n').find((line) => line.startsWith('SyntaxError')) ?? 'it does not parse';
    return `not plain JavaScript (${syntaxError})`;
  }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-` (github-slugger's rule). */
function slugOf(heading) {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** A README's headings outside code blocks: `{ level, text, slug }`, repeated slugs numbered as GitHub does. */
function headingsOf(readme) {
  const headings = [];
  const seen = new Map();
  let isInCode = false;
  for (const line of readFileSync(join(ROOT_DIR, readme), 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) isInCode = !isInCode;
    const match = isInCode ? null : /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (match === null) continue;
    const base = slugOf(match[2]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    headings.push({ level: match[1].length, text: match[2], slug: count === 0 ? base : `${base}-${count}` });
  }
  return headings;
}

/** Broken anchors and a missing or stale contents paragraph, over every README. */
function linkProblems(readmes) {
  const slugs = new Map(readmes.map((readme) => [readme, new Set(headingsOf(readme).map((heading) => heading.slug))]));
  const problems = [];
  for (const readme of readmes) {
    const text = readFileSync(join(ROOT_DIR, readme), 'utf8').replace(/^\s*```[\s\S]*?^\s*```/gm, (code) => code.replace(/[^\n]/g, ' '));
    for (const match of text.matchAll(/\]\(([^()\s#]*)#([^()\s]+)\)/g)) {
      const target = match[1] === '' ? readme : relative(ROOT_DIR, resolve(ROOT_DIR, dirname(readme), match[1]));
      if (!slugs.has(target)) continue;
      if (!slugs.get(target).has(match[2])) {
        const line = text.slice(0, match.index).split('\n').length;
        problems.push(`${readme}:${line}: no heading of ${target} has the anchor #${match[2]}`);
      }
    }
    const contents = /^\*\*Contents:\*\*(.*(?:\n(?!\n).*)*)/m.exec(text);
    const sections = headingsOf(readme).filter((heading) => heading.level === 2).map((heading) => heading.slug);
    const listed = contents === null ? [] : [...contents[1].matchAll(/\]\(#([^()\s]+)\)/g)].map((match) => match[1]);
    if (contents === null) problems.push(`${readme}: no \`**Contents:**\` paragraph linking its sections`);
    else if (listed.join(' ') !== sections.join(' ')) {
      problems.push(`${readme}: its contents list ${listed.map((slug) => `#${slug}`).join(' ')}, its \`## \` sections are ${sections.map((slug) => `#${slug}`).join(' ')}`);
    }
  }
  return problems;
}

/** The exception marked in an HTML comment ending on the line before `fenceIndex`, if any. */
function directiveBefore(lines, fenceIndex) {
  const none = { mode: 'run', reason: '', prelude: '', stubs: [] };
  if (!lines[fenceIndex - 1]?.trim().endsWith('-->')) return none;
  let start = fenceIndex - 1;
  while (start > 0 && !lines[start].trim().startsWith('<!--')) start -= 1;
  const match = DIRECTIVE.exec(lines[start].trim());
  if (match === null) return none;
  if (match[2].replace(/-->$/, '').trim() === '') throw new Error(`line ${start + 1}: a readme-code exception needs a reason`);
  const body = lines.slice(start + 1, fenceIndex - 1);
  return {
    mode: match[1],
    reason: match[2],
    prelude: body.filter((line) => !line.startsWith('stub ')).join('\n'),
    stubs: body
      .filter((line) => line.startsWith('stub '))
      .map((line) => /^stub (\S+): (.*)$/.exec(line))
      .map((parts) => ({ path: parts[1], source: parts[2] })),
  };
}

/** Whether `code` defines `name` itself: declares, imports or receives it. */
function defines(code, name) {
  const word = `\\b${name}\\b`;
  return (
    new RegExp(`\\b(?:const|let|var|function|class|type|interface|declare function|declare const)\\s+${name}\\b`).test(code) ||
    new RegExp(`^import\\b[^;]*${word}[^;]*from`, 'm').test(code) ||
    new RegExp(`\\([^()]*\\b${name}\\b[^()]*\\)\\s*(?::\\s*[\\w<>[\\]|. ]+)?=>`).test(code)
  );
}

/** Whether `code` uses `name` (outside strings is not checked: the READMEs do not quote these names). */
function uses(code, name) {
  return new RegExp(`(?<![.'"\`\\w])${name}\\b`).test(code);
}

/** User functions the READMEs call: what they do here is not the point, only that they type-check and return. */
const USER_FUNCTIONS = {
  chargeOrder: `async function chargeOrder(orderId: number, options: { signal?: AbortSignal } = {}): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  options.signal?.throwIfAborted();
}`,
  importFeed: `async function importFeed(options: { signal?: AbortSignal } = {}): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  options.signal?.throwIfAborted();
}`,
  rebuildCatalog: `async function rebuildCatalog(options: { signal?: AbortSignal } = {}): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  options.signal?.throwIfAborted();
}`,
  buildReport: `async function buildReport(name: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 10));
  options.signal?.throwIfAborted();
}`,
};

/** The README setup behind a fragment's `redlock`, under names no block uses; closed after the block. */
const REDLOCK_SETUP = `import { Redis as ReadmeRedis } from 'ioredis';
import { Redlock as ReadmeRedlock } from 'redlock-core';
import { IoredisAdapter as ReadmeIoredisAdapter } from 'redlock-ioredis-adapter';
const readmeClients = (process.env['README_NODE_URLS'] ?? '').split(',').map((url) => new ReadmeRedis(url, { maxRetriesPerRequest: 0 }));
for (const client of readmeClients) client.on('error', (error) => console.warn(error.message));
const redlock = new ReadmeRedlock(readmeClients.map((client) => new ReadmeIoredisAdapter(client)), { keyPrefix: 'lock:' });`;
const REDLOCK_TEARDOWN = `await redlock.close();
await Promise.all(readmeClients.map((client) => client.quit()));`;

/** The module a block compiles to: the prelude for the names it uses without defining, the block, the teardown. */
function moduleOf(block, coreExports) {
  const own = `${block.prelude}\n${block.code}`;
  const missing = (name) => uses(own, name) && !defines(own, name);
  const imports = [];
  const coreNames = coreExports.filter(missing);
  if (coreNames.length > 0) imports.push(`import { ${coreNames.join(', ')} } from 'redlock-core';`);
  if (missing('RedisClientType')) imports.push(`import type { RedisClientType } from 'redis';`);
  const needsRedlock = missing('redlock');
  const head = [
    ...imports,
    ...(needsRedlock ? [REDLOCK_SETUP] : []),
    ...Object.entries(USER_FUNCTIONS)
      .filter(([name]) => missing(name))
      .map(([, source]) => source),
    block.prelude,
  ]
    .filter((part) => part !== '')
    .join('\n');
  // A fragment runs in a block of its own, so that its `await using` declarations are disposed of
  // before the teardown closes the clients.
  const isWrapped = needsRedlock && !/^(?:import|export)\b/m.test(block.code);
  const before = [head, isWrapped ? '{' : ''].filter((part) => part !== '').join('\n');
  const after = [isWrapped ? '}' : '', needsRedlock ? REDLOCK_TEARDOWN : '', 'export {};'].filter((part) => part !== '').join('\n');
  return {
    source: `${before}${before === '' ? '' : '\n'}${rewriteUrls(block.code)}\n${after}\n`,
    headLines: before === '' ? 0 : before.split('\n').length,
  };
}

/**
 * Replaces each distinct node of the block, a `redis://host:port` string or a `{ host: '…', port: … }`
 * address (GLIDE's), by the i-th of `README_NODE_URLS`, in order of appearance.
 */
function rewriteUrls(code) {
  const distinct = [];
  const indexOf = (literal) => {
    if (!distinct.includes(literal)) distinct.push(literal);
    return distinct.indexOf(literal);
  };
  const nodeUrl = (index) => `((process.env['README_NODE_URLS'] ?? '').split(',')[${index}] as string)`;
  return code
    .replace(/(['"`])redis:\/\/[\w.-]+:\d+\1/g, (literal) => nodeUrl(indexOf(literal)))
    .replace(/\{ host: '[\w.-]+', port: \d+ \}/g, (literal) => {
      const url = nodeUrl(indexOf(literal));
      return `{ host: new URL(${url}).hostname, port: Number(new URL(${url}).port) }`;
    });
}

/** Compiles every block in one `tsc` run; returns the diagnostics mapped back to README lines. */
function compile(blocks) {
  rmSync(WORK_DIR, { recursive: true, force: true });
  mkdirSync(WORK_DIR, { recursive: true });
  const files = blocks.map((block, index) => {
    const dir = join(WORK_DIR, `block-${index}`, 'src');
    mkdirSync(dir, { recursive: true });
    for (const stub of block.stubs) writeFileSync(resolve(dir, stub.path.replace(/\.js$/, '.ts')), `${stub.source}\n`);
    writeFileSync(join(dir, 'block.ts'), block.module.source);
    return join(dir, 'block.ts');
  });
  writeFileSync(
    join(WORK_DIR, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'esnext.disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        moduleDetection: 'force',
        strict: true,
        noUncheckedIndexedAccess: true,
        // redlock-nestjs's blocks: Nest's legacy decorators, as a Nest CLI project compiles them.
        experimentalDecorators: true,
        emitDecoratorMetadata: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT_DIR, 'node_modules', '@types')],
        // The test kit is no dependency of examples/, where the blocks resolve their imports.
        paths: { 'redlock-adapter-test-kit': [join(ROOT_DIR, 'packages', 'redlock-adapter-test-kit', 'dist', 'index.d.ts')] },
        rootDir: WORK_DIR,
        outDir: WORK_DIR,
      },
      files,
    }),
  );
  try {
    execFileSync(join(ROOT_DIR, 'node_modules', '.bin', 'tsc'), ['-p', join(WORK_DIR, 'tsconfig.json'), '--pretty', 'false'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return [];
  } catch (error) {
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`;
    return output
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => {
        const match = /block-(\d+)[\\/]src[\\/]block\.ts\((\d+),(\d+)\): (.*)$/.exec(line);
        if (match === null) return line;
        const block = blocks[Number(match[1])];
        const codeLine = Number(match[2]) - block.module.headLines;
        const where = codeLine >= 1 ? `${block.readme}:${block.line + codeLine - 1}:${match[3]}` : `${block.readme}:${block.line} (prelude line ${match[2]})`;
        return `${where}: ${match[4]}`;
      });
  }
}

/** Local nodes for the runnable blocks: REDLOCK_TEST_NODES, else `count` redis-server processes started here. */
async function openNodes(count) {
  const external = process.env['REDLOCK_TEST_NODES']?.split(',').map((url) => url.trim()).filter(Boolean);
  if (external?.length) return { urls: external.slice(0, count), stop: async () => undefined };
  const { startRedisNodes } = await import(join(ROOT_DIR, 'packages', 'local-redis-nodes', 'dist', 'index.js'));
  return startRedisNodes({ count });
}

/** Runs one compiled block; resolves with a failure message, or undefined when it exited cleanly. */
async function run(block, index, urls) {
  const file = join(WORK_DIR, `block-${index}`, 'src', 'block.js');
  try {
    await promisify(execFile)(process.execPath, [file], {
      env: { ...process.env, README_NODE_URLS: urls.join(',') },
      timeout: RUN_TIMEOUT_MS,
      encoding: 'utf8',
    });
    return undefined;
  } catch (error) {
    const how = error.killed ? `did not exit within ${RUN_TIMEOUT_MS} ms` : `exited with status ${error.code}`;
    const output = `${error.stdout ?? ''}${error.stderr ?? ''}`;
    return `${block.readme}:${block.line}: the block ${how}\n${output.length > 3000 ? `${output.slice(0, 3000)}\n[…]` : output}`;
  }
}

const coreExports = Object.keys(await import(join(ROOT_DIR, 'packages', 'redlock-core', 'dist', 'index.js')));
const blocks = readmeFiles().flatMap(blocksOf);
for (const block of blocks) block.module = moduleOf(block, coreExports);
const diagnostics = compile(blocks);
const notPlain = blocks
  .map((block, index) => ({ block, problem: plainJavaScriptProblem(block, index) }))
  .filter(({ problem }) => problem !== undefined)
  .map(({ block, problem }) => `${block.readme}:${block.line}: ${problem}`);
const links = linkProblems(readmeFiles());
if (notPlain.length > 0) console.error(`check-readme-code: README code is not plain JavaScript where it must be:\n${notPlain.join('\n')}`);
if (links.length > 0) console.error(`check-readme-code: README links do not resolve:\n${links.join('\n')}`);
if (notPlain.length > 0 || links.length > 0) process.exit(1);
if (diagnostics.length > 0) {
  console.error(`check-readme-code: README code does not compile:\n${diagnostics.join('\n')}`);
  process.exit(1);
}

const runnable = blocks.map((block, index) => ({ block, index })).filter(({ block }) => block.mode === 'run');
const nodes = await openNodes(5);
let failures;
try {
  failures = (await Promise.all(runnable.map(({ block, index }) => run(block, index, nodes.urls)))).filter(Boolean);
} finally {
  await nodes.stop();
}
if (failures.length > 0) {
  console.error(`check-readme-code: README code failed to run:\n${failures.join('\n')}`);
  process.exit(1);
}
const exceptions = blocks.filter((block) => block.mode !== 'run').map((block) => `${block.readme}:${block.line} (${block.reason})`);
console.log(
  `check-readme-code: ${blocks.length} README blocks compile (${blocks.filter((block) => block.language === 'js').length} of them plain JavaScript), ${runnable.length} ran against local nodes` +
    `${exceptions.length > 0 ? `; compiled only: ${exceptions.join(', ')}` : ''} (${((performance.now() - startedAt) / 1000).toFixed(1)} s)`,
);
