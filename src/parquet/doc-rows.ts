/**
 * The good rows of a shard gathered as a token store takes them: one growing float32 array of
 * token vectors, the token counts and the ids, in file order. readShard gathers a whole shard;
 * the streaming load gathers one row group at a time and clears it after each append.
 */
export class DocRows {
  #buf = new Float32Array(1 << 16);
  #length = 0;
  #counts: number[] = [];
  #intIds: bigint[] = [];
  #strIds: string[] = [];

  /** A row as ShardVisitor.row gives it (`values` is copied: it is only valid during the call). */
  add(id: bigint | string, tokens: number, values: Float32Array): void {
    if (this.#length + values.length > this.#buf.length) {
      let cap = this.#buf.length;
      while (cap < this.#length + values.length) cap *= 2;
      const next = new Float32Array(cap);
      next.set(this.#buf.subarray(0, this.#length));
      this.#buf = next;
    }
    this.#buf.set(values, this.#length);
    this.#length += values.length;
    this.#counts.push(tokens);
    if (typeof id === 'bigint') this.#intIds.push(id);
    else this.#strIds.push(id);
  }

  get docs(): number {
    return this.#counts.length;
  }

  /** The vectors so far: a view (valid until the next add or clear), or a copy of exactly their size. */
  vectors(copy: boolean): Float32Array {
    return copy ? this.#buf.slice(0, this.#length) : this.#buf.subarray(0, this.#length);
  }

  counts(): Int32Array {
    return Int32Array.from(this.#counts);
  }

  ids(kind: 'int' | 'string' | undefined): BigInt64Array | string[] {
    return kind === 'int' ? BigInt64Array.from(this.#intIds) : [...this.#strIds];
  }

  /** Forgets the rows and keeps the buffer (its size is the largest batch so far). */
  clear(): void {
    this.#length = 0;
    this.#counts = [];
    this.#intIds = [];
    this.#strIds = [];
  }
}
