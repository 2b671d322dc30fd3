/**
 * One open file of the durable engine's log, appended to at its end. The real adapter
 * (`NodeLogDirectory` in `@dkv/runtime`) writes with `write(2)` and syncs with `fsync(2)`; the
 * in-memory one ({@link MemoryLogDirectory}) keeps bytes in arrays and can be told to fail.
 */
export interface LogFile {
  /**
   * Appends all of `bytes`, synchronously: once it returns they are in the file as the operating
   * system sees it (its page cache), so a crash of this process cannot lose them; a power loss can
   * until {@link sync}. It throws when they could not all be written (disk full, I/O error), and
   * then any part of them may be in the file: the caller cuts it back with {@link truncate}.
   */
  append(bytes: Uint8Array): void;
  /** Forces what was appended so far to stable storage (fsync), off the event loop; rejects when it could not. */
  sync(): Promise<void>;
  /** As {@link sync}, blocking: for the rare moments that need it (sealing a segment, closing). */
  syncNow(): void;
  /** Cuts the file back to `size` bytes: what a failed append left behind goes. */
  truncate(size: number): void;
  /** Releases the file. Appending after it throws. */
  close(): void;
}

/**
 * The directory holding one node's log: the file operations recovery, appending and merging
 * need, and nothing else. Names are plain file names (no separators). Every method throws on
 * failure with the operating system's error; none of them retries.
 */
export interface LogDirectory {
  /** A description for messages, e.g. the directory's path. */
  readonly location: string;
  /** The names of the files in the directory, in no particular order. */
  list(): string[];
  /** The size of `name` in bytes. */
  size(name: string): number;
  /** Reads up to `target.length` bytes of `name` from `position` into `target`; returns how many were read. */
  read(name: string, position: number, target: Uint8Array): number;
  /** Opens `name` for appending, created empty when missing. */
  open(name: string): LogFile;
  /** Renames `from` to `to`, replacing `to` (atomic for a real file system). */
  rename(from: string, to: string): void;
  /** Deletes `name`. */
  remove(name: string): void;
  /** Cuts `name` to `size` bytes (recovery drops a torn end this way). */
  truncate(name: string, size: number): void;
  /** Makes the creations, renames and deletions so far durable (fsync of the directory). */
  syncDirectory(): void;
}

/**
 * Reads the whole of `name`: into `reuse` when it is large enough (the answer is then a view of
 * it, valid until `reuse` is filled again), otherwise into a new buffer. Replay reads every
 * segment into one buffer: on a virtual machine, touching fresh memory costs more CPU than
 * reading the file, and a new 64 MiB buffer per segment doubled the cost of a restart.
 */
export function readWholeFile(directory: LogDirectory, name: string, reuse?: Buffer): Buffer {
  const size = directory.size(name);
  const out = reuse !== undefined && reuse.length >= size ? reuse.subarray(0, size) : Buffer.allocUnsafe(size);
  let at = 0;
  while (at < size) {
    const read = directory.read(name, at, out.subarray(at));
    if (read === 0) return out.subarray(0, at);
    at += read;
  }
  return out;
}

/** A fault {@link MemoryLogDirectory} injects: which operation on which file fails, and with what. */
export type LogFault = (operation: 'append' | 'sync' | 'truncate' | 'rename' | 'open', name: string) => Error | null;

interface MemoryFile {
  bytes: Buffer;
  size: number;
  /** The size as of the last sync: what survives {@link MemoryLogDirectory.powerLoss}. */
  syncedSize: number;
}

/**
 * A {@link LogDirectory} in memory, for tests and simulations: it keeps what was appended and
 * what was synced apart, so a test can lose the unsynced part as a power cut would
 * ({@link powerLoss}), damage bytes ({@link bytesOf} gives them to change in place), and make any
 * operation fail ({@link inject}), e.g. a disk that is full. An append that fails with
 * `partialBytes` set writes that many of its bytes first, as a real disk-full write may.
 */
export class MemoryLogDirectory implements LogDirectory {
  readonly location = 'memory';
  private readonly files = new Map<string, MemoryFile>();
  private fault: LogFault = () => null;
  private heldSyncs: Array<() => void> = [];
  /** Bytes a failing append writes before it throws. */
  partialBytes = 0;
  /** While true, `sync` does not finish until {@link releaseSyncs}: an fsync that takes its time. */
  holdSyncs = false;

  /** Finishes the syncs held so far, each as of now (a file closed meanwhile fails its sync, as a real fd would). */
  releaseSyncs(): void {
    const held = this.heldSyncs;
    this.heldSyncs = [];
    for (const finish of held) finish();
  }

  /** Makes operations fail as `fault` says (null: they succeed), until replaced. */
  inject(fault: LogFault): void {
    this.fault = fault;
  }

  /** Drops, in every file, what was appended since its last sync: what a power cut loses. */
  powerLoss(): void {
    for (const file of this.files.values()) file.size = file.syncedSize;
  }

  /** The bytes of `name` (a view, to read or damage in place). */
  bytesOf(name: string): Buffer {
    const file = this.file(name);
    return file.bytes.subarray(0, file.size);
  }

  list(): string[] {
    return [...this.files.keys()];
  }

  size(name: string): number {
    return this.file(name).size;
  }

  read(name: string, position: number, target: Uint8Array): number {
    const file = this.file(name);
    const count = Math.max(0, Math.min(target.length, file.size - position));
    target.set(file.bytes.subarray(position, position + count));
    return count;
  }

  open(name: string): LogFile {
    this.check('open', name);
    if (!this.files.has(name)) this.files.set(name, { bytes: Buffer.alloc(1024), size: 0, syncedSize: 0 });
    let closed = false;
    const file = (): MemoryFile => {
      if (closed) throw new Error(`${name} is closed`);
      return this.file(name);
    };
    return {
      append: (bytes) => {
        const target = file();
        const error = this.fault('append', name);
        this.write(target, error === null ? bytes : bytes.subarray(0, Math.min(this.partialBytes, bytes.length)));
        if (error !== null) throw error;
      },
      sync: () =>
        new Promise<void>((resolve, reject) => {
          const finish = (): void => {
            try {
              this.syncFile(name, file());
              resolve();
            } catch (error) {
              reject(error as Error);
            }
          };
          if (this.holdSyncs) this.heldSyncs.push(finish);
          else finish();
        }),
      syncNow: () => this.syncFile(name, file()),
      truncate: (size) => this.truncate(name, size),
      close: () => {
        closed = true;
      },
    };
  }

  rename(from: string, to: string): void {
    this.check('rename', from);
    this.files.set(to, this.file(from));
    this.files.delete(from);
  }

  remove(name: string): void {
    this.file(name);
    this.files.delete(name);
  }

  truncate(name: string, size: number): void {
    this.check('truncate', name);
    const file = this.file(name);
    file.size = Math.min(file.size, size);
    file.syncedSize = Math.min(file.syncedSize, size);
  }

  syncDirectory(): void {}

  private syncFile(name: string, file: MemoryFile): void {
    this.check('sync', name);
    file.syncedSize = file.size;
  }

  private write(file: MemoryFile, bytes: Uint8Array): void {
    if (file.size + bytes.length > file.bytes.length) {
      const grown = Buffer.alloc(Math.max(file.bytes.length * 2, file.size + bytes.length));
      grown.set(file.bytes.subarray(0, file.size));
      file.bytes = grown;
    }
    file.bytes.set(bytes, file.size);
    file.size += bytes.length;
  }

  private check(operation: Parameters<LogFault>[0], name: string): void {
    const error = this.fault(operation, name);
    if (error !== null) throw error;
  }

  private file(name: string): MemoryFile {
    const file = this.files.get(name);
    if (file === undefined) throw new Error(`ENOENT: no file ${name} in the memory log directory`);
    return file;
  }
}
