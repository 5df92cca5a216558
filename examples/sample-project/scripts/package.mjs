// Packs dist/ into one JSON bundle (a stand-in for a tarball) with a checksum.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const files = Object.fromEntries(
  readdirSync('dist').filter((f) => f.endsWith('.js')).map((f) => [f, readFileSync(`dist/${f}`, 'utf8')]),
);
const body = JSON.stringify(files);
const sha = createHash('sha256').update(body).digest('hex');
writeFileSync('sample-project.bundle.json', JSON.stringify({ sha256: sha, files }));
console.log(`packed ${Object.keys(files).length} files, sha256 ${sha.slice(0, 12)}`);
