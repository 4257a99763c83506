import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { mapStream, mapStreamErrors, StreamEnd } from "../../src/service/stream-control.js";

/** What the service's error mapping does: wraps whatever was thrown. */
class Mapped extends Error {
  constructor(readonly original: unknown) {
    super(`mapped: ${String((original as Error)?.message ?? original)}`);
  }
}
const mapErr = (err: unknown) => new Mapped(err);

async function* items(n: number, thenThrow?: Error): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
  if (thenThrow) throw thenThrow;
}

async function drain<T>(it: AsyncIterable<T>): Promise<{ values: T[]; error?: unknown }> {
  const values: T[] = [];
  try {
    for await (const v of it) values.push(v);
    return { values };
  } catch (error) {
    return { values, error };
  }
}

describe("mapped server streams (the iterators that stand in for generators)", () => {
  it("maps every item, runs the end once, and maps an error the end throws", async () => {
    let ends = 0;
    const ok = await drain(mapStreamErrors(() => mapStream(() => items(3), (x) => x * 10, () => void ends++), mapErr));
    assert.deepEqual(ok.values, [0, 10, 20]);
    assert.equal(ok.error, undefined);
    assert.equal(ends, 1);
    const shut = await drain(
      mapStreamErrors(
        () =>
          mapStream(
            () => items(2),
            (x) => x,
            () => {
              throw new Error("shutting down");
            },
          ),
        mapErr,
      ),
    );
    assert.deepEqual(shut.values, [0, 1]);
    assert.ok(shut.error instanceof Mapped, "the end's error is mapped like the handler's");
    assert.equal((shut.error.original as Error).message, "shutting down");
  });

  it("maps an error of the source, of the item mapping, and one thrown calling the handler", async () => {
    const fromSource = await drain(mapStreamErrors(() => mapStream(() => items(1, new Error("read failed")), (x) => x), mapErr));
    assert.deepEqual(fromSource.values, [0]);
    assert.ok(fromSource.error instanceof Mapped);
    const fromItem = await drain(
      mapStreamErrors(
        () =>
          mapStream(
            () => items(2),
            (x) => {
              if (x === 1) throw new Error("bad item");
              return x;
            },
          ),
        mapErr,
      ),
    );
    assert.deepEqual(fromItem.values, [0]);
    assert.ok(fromItem.error instanceof Mapped);
    const sync = mapStreamErrors(() => {
      throw new Error("invalid request");
    }, mapErr);
    const first = await drain(sync);
    assert.ok(first.error instanceof Mapped, "a handler that throws at once fails the first next()");
    assert.deepEqual(await sync.next(), { done: true, value: undefined }, "then the stream is done");
  });

  it("wraps a plain generator (no mapped stream inside) the same way", async () => {
    const r = await drain(mapStreamErrors(() => items(2, new Error("x")), mapErr));
    assert.deepEqual(r.values, [0, 1]);
    assert.ok(r.error instanceof Mapped);
  });

  it("return() reaches the source, so its finally runs", async () => {
    let finallyRan = false;
    async function* held(): AsyncGenerator<number> {
      try {
        yield 1;
        yield 2;
      } finally {
        finallyRan = true;
      }
    }
    const it = mapStreamErrors(() => mapStream(() => held(), (x) => x), mapErr);
    assert.deepEqual(await it.next(), { done: false, value: 1 });
    await it.return!();
    assert.ok(finallyRan);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  });

  it("StreamEnd tells its listener once, and tells a listener that comes later through ended", () => {
    const end = new StreamEnd();
    const seen: unknown[] = [];
    end.listen({ streamEnded: (r) => seen.push(r) });
    end.abort("first");
    end.abort("second");
    assert.deepEqual(seen, ["first"]);
    assert.equal(end.ended?.reason, "first");
    assert.equal(new StreamEnd().ended, undefined);
  });
});
