// Pulls exact byte counts out of an async stream of Buffers of any size, asking the source for more only
// when needed: a wrong password is found after reading the header and the first block, not the first 64 KiB
// piece after that. The pieces handed in are not copied unless a read spans several of them.

export class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #ended = false;
  /** Bytes taken from the source so far. */
  pulledBytes = 0;

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Exactly `n` bytes, or fewer when the source ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.#pendingBytes < n && (await this.#pull()));
    if (this.#pendingBytes === 0) return Buffer.alloc(0);
    const first = this.#pending[0]!;
    if (first.length >= n) {
      this.#take(1);
      if (first.length > n) this.#unshift(first.subarray(n));
      return first.subarray(0, n);
    }
    const all = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#take(this.#pending.length);
    if (all.length > n) this.#unshift(all.subarray(n));
    return all.length > n ? all.subarray(0, n) : all;
  }

  /** Exactly `n` bytes (fewer when the source ends first) as the pieces that hold them, without copying. */
  async readParts(n: number): Promise<Buffer[]> {
    while (this.#pendingBytes < n && (await this.#pull()));
    const parts: Buffer[] = [];
    let need = n;
    while (need > 0 && this.#pending.length > 0) {
      const first = this.#pending[0]!;
      this.#take(1);
      if (first.length > need) this.#unshift(first.subarray(need));
      parts.push(first.length > need ? first.subarray(0, need) : first);
      need -= Math.min(need, first.length);
    }
    return parts;
  }

  /** The next piece as the source gave it (or what is left of it), or null at the end. */
  async next(): Promise<Buffer | null> {
    if (this.#pendingBytes === 0 && !(await this.#pull())) return null;
    const first = this.#pending[0]!;
    this.#take(1);
    return first;
  }

  /** True when the source has no more bytes. */
  async atEnd(): Promise<boolean> {
    return this.#pendingBytes === 0 && !(await this.#pull());
  }

  /** Tells the source that no more will be read (closes a file stream early). */
  async close(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      await this.#it.return?.();
    }
  }

  /** Adds one non-empty piece from the source; false at its end. */
  async #pull(): Promise<boolean> {
    while (!this.#ended) {
      const r = await this.#it.next();
      if (r.done) {
        this.#ended = true;
        return false;
      }
      const piece = r.value;
      if (piece.length === 0) continue;
      this.pulledBytes += piece.length;
      this.#pending.push(piece);
      this.#pendingBytes += piece.length;
      return true;
    }
    return false;
  }

  #take(count: number): void {
    for (const piece of this.#pending.splice(0, count)) this.#pendingBytes -= piece.length;
  }

  #unshift(piece: Buffer): void {
    this.#pending.unshift(piece);
    this.#pendingBytes += piece.length;
  }
}
