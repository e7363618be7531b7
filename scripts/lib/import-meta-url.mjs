// Injected into the CommonJS bins by scripts/bundle.mjs, where `import.meta.url` stands for this value:
// the file URL of the bundle itself (`require` and `__filename` are the bundle's own there).
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
