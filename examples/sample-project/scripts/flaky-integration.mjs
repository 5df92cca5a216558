// An integration check that is flaky on purpose: its first attempt after a clean
// fails (as if a port were busy); the retry passes.
import { existsSync, writeFileSync } from 'node:fs';

if (!existsSync('dist/.integration-tried')) {
  writeFileSync('dist/.integration-tried', '');
  console.error('integration: could not bind port 4173 (address in use)');
  process.exit(1);
}
const { mean } = await import(new URL('../dist/index.js', import.meta.url));
if (mean([1, 2, 3]) !== 2) process.exit(2);
console.log('integration: ok');
