import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AddressError,
  formatHostPort,
  isLoopbackHost,
  parseHostPort,
  parseServerAddress,
} from "../../src/shared/address.js";

describe("parseHostPort", () => {
  it("reads IPv4, names, localhost and port 0", () => {
    assert.deepEqual(parseHostPort("127.0.0.1:50051"), { host: "127.0.0.1", port: 50051 });
    assert.deepEqual(parseHostPort("localhost:0"), { host: "localhost", port: 0 });
    assert.deepEqual(parseHostPort("db.internal.example:65535"), { host: "db.internal.example", port: 65535 });
    assert.deepEqual(parseHostPort("0.0.0.0:8080"), { host: "0.0.0.0", port: 8080 });
  });

  it("reads IPv6 in brackets and gives the host without them", () => {
    assert.deepEqual(parseHostPort("[::1]:8080"), { host: "::1", port: 8080 });
    assert.deepEqual(parseHostPort("[::]:0"), { host: "::", port: 0 });
    assert.deepEqual(parseHostPort("[fe80::1%eth0]:9"), { host: "fe80::1%eth0", port: 9 });
  });

  for (const [text, why] of [
    ["127.0.0.1:99999", /0 to 65535/],
    ["127.0.0.1:-1", /0 to 65535/],
    ["127.0.0.1:", /0 to 65535/],
    ["127.0.0.1:80x", /0 to 65535/],
    ["127.0.0.1: 80", /0 to 65535/],
    ["127.0.0.1:1e3", /0 to 65535/],
    ["127.0.0.1", /not host:port/],
    [":50051", /not host:port/],
    ["", /not host:port/],
    ["::1:50051", /brackets/],
    ["[::1]50051", /not host:port/],
    ["[::1:50051", /not host:port/],
    ["[nope]:1", /IPv6/],
    ["bad host:1", /not a host name/],
    ["http://127.0.0.1:1", /without a scheme/],
  ] as const) {
    it(`rejects ${JSON.stringify(text)} saying what is wrong`, () => {
      assert.throws(() => parseHostPort(text), (err: unknown) => err instanceof AddressError && why.test(err.message));
    });
  }

  it("formats back, bracketing IPv6", () => {
    assert.equal(formatHostPort("::1", 5), "[::1]:5");
    assert.equal(formatHostPort("127.0.0.1", 0), "127.0.0.1:0");
    for (const s of ["127.0.0.1:1", "[::1]:2", "localhost:3"]) {
      const { host, port } = parseHostPort(s);
      assert.equal(formatHostPort(host, port), s);
    }
  });
});

describe("isLoopbackHost", () => {
  it("is true for 127.0.0.0/8, ::1 and localhost only", () => {
    for (const h of ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "0:0:0:0:0:0:0:1", "localhost", "LOCALHOST"]) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "127.example.com", "localhost.example.com", "::2"]) {
      assert.equal(isLoopbackHost(h), false, h);
    }
  });
});

describe("parseServerAddress (every client's --server / TASKCONTROL_ADDRESS)", () => {
  it("takes host:port, http://host:port and https://host:port", () => {
    assert.deepEqual(parseServerAddress("127.0.0.1:50051"), {
      scheme: "http",
      host: "127.0.0.1",
      port: 50051,
      baseUrl: "http://127.0.0.1:50051",
    });
    assert.equal(parseServerAddress("http://127.0.0.1:50051").baseUrl, "http://127.0.0.1:50051");
    assert.equal(parseServerAddress("HTTP://localhost:1/").baseUrl, "http://localhost:1");
    assert.deepEqual(parseServerAddress("https://tasks.example:8443"), {
      scheme: "https",
      host: "tasks.example",
      port: 8443,
      baseUrl: "https://tasks.example:8443",
    });
    assert.equal(parseServerAddress("[::1]:50051").baseUrl, "http://[::1]:50051");
    assert.equal(parseServerAddress("https://[::1]:9").baseUrl, "https://[::1]:9");
  });

  it("defaults a URL's port by its scheme", () => {
    assert.equal(parseServerAddress("https://tasks.example").port, 443);
    assert.equal(parseServerAddress("http://tasks.example/").port, 80);
    assert.equal(parseServerAddress("https://[::1]").baseUrl, "https://[::1]:443");
  });

  for (const text of ["127.0.0.1", "ftp://h:1", "grpc://h:1", "http://h:1/api", "http://u:p@h:1", "http://h:99999", "http://::1:5"]) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parseServerAddress(text), AddressError);
    });
  }
});
