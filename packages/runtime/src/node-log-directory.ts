import {
  closeSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { LogDirectory, LogFile } from '@dkv/storage';

/**
 * The durable engine's {@link LogDirectory} on a real file system (`node:fs`). Appends are one
 * synchronous `write(2)` each: when it returns the bytes are in the kernel's page cache, so the
 * engine can answer a write knowing that a crash of the process cannot lose it (a write stream
 * would hand the bytes over later, after the answer). `sync` runs `fsync(2)` on libuv's thread
 * pool, off the event loop; `syncDirectory` fsyncs the directory so that created, renamed and
 * deleted files survive a power cut.
 */
export class NodeLogDirectory implements LogDirectory {
  /** Opens (creating it and its parents when missing) the directory at `path`. */
  constructor(readonly location: string) {
    mkdirSync(location, { recursive: true });
  }

  list(): string[] {
    return readdirSync(this.location);
  }

  size(name: string): number {
    return statSync(join(this.location, name)).size;
  }

  read(name: string, position: number, target: Uint8Array): number {
    const fd = openSync(join(this.location, name), 'r');
    try {
      return readSync(fd, target, 0, target.length, position);
    } finally {
      closeSync(fd);
    }
  }

  open(name: string): LogFile {
    const fd = openSync(join(this.location, name), 'a');
    let closed = false;
    return {
      append(bytes: Uint8Array): void {
        let written = 0;
        // write(2) may take fewer bytes than asked; a short write that makes no progress throws.
        while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      },
      sync: () => new Promise<void>((resolve, reject) => fsync(fd, (error) => (error ? reject(error) : resolve()))),
      syncNow: () => fsyncSync(fd),
      truncate: (size: number) => ftruncateSync(fd, size),
      close(): void {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
  }

  rename(from: string, to: string): void {
    renameSync(join(this.location, from), join(this.location, to));
  }

  remove(name: string): void {
    unlinkSync(join(this.location, name));
  }

  truncate(name: string, size: number): void {
    truncateSync(join(this.location, name), size);
  }

  syncDirectory(): void {
    const fd = openSync(this.location, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
