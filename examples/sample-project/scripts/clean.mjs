// Removes what earlier builds left behind.
import { rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
rmSync('sample-project.bundle.json', { force: true });
console.log('clean');
