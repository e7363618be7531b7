import { startRedisNodes } from 'local-redis-nodes';
const nodes = await startRedisNodes({ count: 5 });
console.log(JSON.stringify(nodes.urls));
process.on('SIGTERM', async () => { await nodes.stop(); process.exit(0); });
setInterval(() => {}, 1 << 30);
