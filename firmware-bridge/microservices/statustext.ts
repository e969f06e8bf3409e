/**
 * STATUSTEXT (mavlink.io/en/services/statustext.html): a text longer than 50 characters comes in
 * chunks sharing a non-zero id, numbered by chunk_seq; a chunk shorter than 50 characters
 * (NUL-terminated) ends it. Id 0 is a text of one chunk. PX4 ends its texts with a tab (recorded
 * in SITL: "Takeoff detected\t"); trailing whitespace is no part of what it says.
 */
import type { common } from 'mavlink-mappings';

export class StatusTextAssembler {
  private chunks: { id: number; parts: string[] } | undefined;

  /** The whole text once its last chunk is in, else undefined. */
  push(m: common.StatusText): string | undefined {
    const text = m.text.replace(/\0.*$/s, '');
    let full: string | undefined;
    if (m.id === 0) full = text;
    else {
      if (!this.chunks || this.chunks.id !== m.id || m.chunkSeq === 0) this.chunks = { id: m.id, parts: [] };
      this.chunks.parts[m.chunkSeq] = text;
      if (text.length < 50) {
        full = this.chunks.parts.join('');
        this.chunks = undefined;
      }
    }
    return full?.trimEnd();
  }

  /** A chunked text has begun and not ended. */
  get partial(): boolean {
    return this.chunks !== undefined;
  }
}
