// "Builds" dist/: copies the sources and writes an index that re-exports them.
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';

mkdirSync('dist', { recursive: true });
const modules = readdirSync('src').filter((f) => f.endsWith('.js'));
for (const m of modules) copyFileSync(`src/${m}`, `dist/${m}`);
writeFileSync('dist/index.js', modules.map((m) => `export * from './${m}';`).join('\n') + '\n');
console.log(`built ${modules.length} modules`);
