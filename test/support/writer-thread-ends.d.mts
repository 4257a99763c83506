/** From now on, each SQLite writer thread started is ended at its `n`-th answer (0: never). */
export function endWriterThreadAt(n: number): void;
