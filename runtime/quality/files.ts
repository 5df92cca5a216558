/** Reading the files an output names: once, bounded, and never outside its workdir. */
import { open, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import type { ChangedFile, FileSnapshot } from './types.js';

/** Larger files are not read (a generated bundle says nothing about the work's quality). */
export const MAX_FILE_BYTES = 1024 * 1024;

/** The absolute path of `path` in `workdir`, or null when it points outside it. */
export function resolveInside(workdir: string, path: string): string | null {
  const abs = resolve(workdir, path);
  const rel = relative(workdir, abs);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) return abs;
  return null;
}

/** The text of a file, or why there is none. */
export async function readText(abs: string): Promise<{ content: string } | { unreadable: NonNullable<FileSnapshot['unreadable']> }> {
  try {
    const info = await stat(abs);
    if (!info.isFile()) return { unreadable: 'missing' };
    if (info.size > MAX_FILE_BYTES) return { unreadable: 'too-large' };
    const handle = await open(abs, 'r');
    try {
      const bytes = await handle.readFile();
      // A NUL byte in text is vanishingly rare; in binaries it is everywhere.
      if (bytes.includes(0)) return { unreadable: 'binary' };
      return { content: bytes.toString('utf8') };
    } finally {
      await handle.close();
    }
  } catch (err) {
    return { unreadable: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'error' };
  }
}

export async function snapshot(workdir: string, file: ChangedFile): Promise<FileSnapshot> {
  const abs = resolveInside(workdir, file.path);
  if (abs === null) return { ...file, absPath: resolve(workdir, file.path), content: null, unreadable: 'outside-workdir' };
  if (file.kind === 'deleted') return { ...file, absPath: abs, content: null, unreadable: 'deleted' };
  const read = await readText(abs);
  return 'content' in read ? { ...file, absPath: abs, content: read.content } : { ...file, absPath: abs, content: null, unreadable: read.unreadable };
}
