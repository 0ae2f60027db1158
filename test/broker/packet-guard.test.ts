import { describe, expect, it } from 'vitest';
import { PacketGuard } from '../../broker/packet-guard.ts';

/** A packet of `type` with `bodyLength` zero bytes and a correct varint remaining length. */
function packet(bodyLength: number, type = 0x30): Buffer {
  const header = [type];
  let value = bodyLength;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    header.push(byte);
  } while (value > 0);
  return Buffer.concat([Buffer.from(header), Buffer.alloc(bodyLength)]);
}

describe('PacketGuard', () => {
  it('passes packets up to the limit, in any chunking', () => {
    const stream = Buffer.concat([packet(0, 0xc0), packet(1000), packet(127), packet(128), packet(16_383), packet(16_384)]);
    for (const chunkSize of [1, 2, 7, 1000, stream.length]) {
      const guard = new PacketGuard(16_384);
      for (let i = 0; i < stream.length; i += chunkSize) expect(guard.feed(stream.subarray(i, i + chunkSize))).toBe(true);
    }
  });

  it('refuses a declared length above the limit from the header alone', () => {
    const guard = new PacketGuard(16_384);
    expect(guard.feed(packet(100))).toBe(true);
    expect(guard.feed(packet(16_385).subarray(0, 4))).toBe(false);
  });

  it('refuses a 10 MB header split byte by byte', () => {
    const guard = new PacketGuard(256 * 1024);
    const header = packet(10 * 1024 * 1024).subarray(0, 5);
    const results = [...header].map((byte) => guard.feed(Buffer.from([byte])));
    expect(results.at(-1)).toBe(false);
    expect(results.includes(false)).toBe(true);
  });

  it('refuses a remaining length with more than four bytes [MQTT-2.2.3]', () => {
    const guard = new PacketGuard(Number.MAX_SAFE_INTEGER);
    expect(guard.feed(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toBe(false);
  });

  it('tracks packet boundaries: a body byte that looks like a header is not read as one', () => {
    const guard = new PacketGuard(200);
    // Body of 3 bytes containing 0xff 0xff 0xff; read as a header they would declare a huge length.
    expect(guard.feed(Buffer.from([0x30, 0x03, 0xff, 0xff, 0xff]))).toBe(true);
    expect(guard.feed(packet(200))).toBe(true);
    expect(guard.feed(packet(201).subarray(0, 3))).toBe(false);
  });
});
