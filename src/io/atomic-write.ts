/**
 * The one way Distillery replaces a file: write a hidden temp file in the same folder, fsync it, rename it
 * over the target, then fsync the folder so that the rename itself survives a power loss. A crash or an
 * error leaves either the old file or the new one (after a crash, at worst a stray temp file, which
 * `tempPathFor` names so that no reader mistakes it for data: hidden, and never ending in the target's
 * extension). Used by safetensors (checkpoints, exports, latent shards), the run folder's JSON files and the
 * LDM importer's JSON files.
 *
 * Why not the `write-file-atomic` package: it takes the whole content as one buffer (a checkpoint is written
 * tensor by tensor, so that peak extra memory is one tensor) and does not fsync the folder after the rename.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface AtomicWriteOptions {
  /**
   * fsync the file before the rename and the folder after it (default true). `false` only for scratch
   * files that are rebuilt when lost (the replay spill).
   */
  fsync?: boolean;
}

/** Temp-file name used while writing `file`: hidden, in the same folder, and never ends in the file's extension. */
export function tempPathFor(file: string): string {
  const dir = path.dirname(file);
  const base = path.basename(file);
  return path.join(dir, `.${base}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
}

/** Content to write: bytes or text, or a function that writes through the open file handle (streaming). */
export type AtomicContent = string | Uint8Array | ((handle: fs.promises.FileHandle) => Promise<void>);

/**
 * Replaces `file` atomically with `content` (see the file comment). Errors are rethrown as they come,
 * after the temp file is removed; the target is untouched then.
 */
export async function writeFileAtomic(file: string, content: AtomicContent, options: AtomicWriteOptions = {}): Promise<void> {
  const doSync = options.fsync ?? true;
  const tmp = tempPathFor(file);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(tmp, 'wx');
    if (typeof content === 'function') await content(fh);
    else await fh.writeFile(content);
    if (doSync) await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.promises.rename(tmp, file);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fs.promises.rm(tmp, { force: true });
    throw e;
  }
  if (doSync) await syncDirectory(path.dirname(file));
}

/** The synchronous form of `writeFileAtomic`, for the run folder's small JSON files written on exit paths. */
export function writeFileAtomicSync(file: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const doSync = options.fsync ?? true;
  const tmp = tempPathFor(file);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    fs.writeFileSync(fd, content);
    if (doSync) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (doSync && process.platform !== 'win32') {
    const dfd = fs.openSync(path.dirname(file), 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  }
}

/** JSON as Distillery writes it (two-space indent, trailing newline), replaced atomically. */
export function writeJsonAtomic(file: string, value: unknown, options: AtomicWriteOptions = {}): Promise<void> {
  return writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', options);
}

/** The synchronous form of `writeJsonAtomic`. */
export function writeJsonAtomicSync(file: string, value: unknown, options: AtomicWriteOptions = {}): void {
  writeFileAtomicSync(file, JSON.stringify(value, null, 2) + '\n', options);
}

/** fsync a folder, which makes a rename inside it durable (a no-op on Windows, which cannot open folders). */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const dh = await fs.promises.open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
