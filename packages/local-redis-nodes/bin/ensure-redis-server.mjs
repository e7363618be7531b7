#!/usr/bin/env node
// The workspace's `ensure-redis-server`: a file there before the first build, so that installing the
// workspace links the command without a warning per package ("Failed to create bin"). It runs the built
// command, so build first. The published package's command is dist/ensure-redis-server.cjs (publishConfig).
await import('../dist/ensure-redis-server-cli.js');
