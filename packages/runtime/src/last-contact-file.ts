import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file, in a node's data directory, that keeps the last time the node was in contact with the cluster. */
export const LAST_CONTACT_FILE = 'LAST_CONTACT';

/**
 * The isolation guard's last-contact time in a node's data directory (an `@dkv/replication`
 * `LastContactStore`): a node stopped for longer than the tombstone grace allows and started
 * again on its data must know that it was away, or it would serve and push values whose deletes
 * the others have purged since. The file holds the time as decimal milliseconds since the epoch;
 * it is replaced whole (written beside it, then renamed), so a crash leaves the old time or the
 * new one, and an old time only makes the node count itself away longer (the safe side).
 */
export class LastContactFile {
  private readonly path: string;

  constructor(private readonly directory: string) {
    this.path = join(directory, LAST_CONTACT_FILE);
  }

  /** The saved time, or null when there is none (a new directory, or one from before this file). */
  load(): number | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const ms = Number(text.trim());
    if (!Number.isSafeInteger(ms) || ms < 0) {
      throw new Error(
        `${this.path} must hold a time in milliseconds since the epoch (a whole number >= 0), got ${JSON.stringify(text.slice(0, 40))}; delete the file to start as if the node had just been in contact`,
      );
    }
    return ms;
  }

  /** Replaces the saved time. */
  save(lastContactMs: number): void {
    mkdirSync(this.directory, { recursive: true });
    const temporary = `${this.path}.new`;
    writeFileSync(temporary, `${Math.floor(lastContactMs)}\n`);
    renameSync(temporary, this.path);
  }
}
