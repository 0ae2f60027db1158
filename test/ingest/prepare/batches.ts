/** Seeded PRNG (mulberry32), so every run publishes the same batches. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Probe payloads as one probe sends them: `count` batches of 40 sightings two minutes apart from `baseMs` (keep
 * them in the past: a future timestamp would get the receive time), from a pool of 30 phones (global MACs,
 * randomized with fingerprint + sequence number, associated). Seeded per probe: every run sends the same.
 */
export function probeBatches(probeIndex: number, baseMs: number, count: number): string[] {
  const random = rng(1000 + probeIndex);
  const byte = () => Math.floor(random() * 256).toString(16).padStart(2, '0');
  const phones = Array.from({ length: 30 }, (_, i) => {
    const kind = i % 3;
    const first = kind === 0 ? '3c' : 'da'; // 0x3c: global; 0xda: locally administered (randomized)
    return { mac: `${first}:${byte()}:${byte()}:${byte()}:${byte()}:${byte()}`, kind, fp: `f${i % 4}c0ffee`, sn: Math.floor(random() * 4000) };
  });
  return Array.from({ length: count }, (_, b) => {
    const obs = Array.from({ length: 40 }, () => {
      const phone = phones[Math.floor(random() * phones.length)] ?? phones[0];
      if (phone === undefined) throw new Error('no phone');
      phone.sn = (phone.sn + 1) % 4096;
      const ts = baseMs + b * 2 * 60_000 + Math.floor(random() * 120_000);
      const rssi = -40 - Math.floor(random() * 50);
      return phone.kind === 0 ? { mac: phone.mac, rssi, ts } : phone.kind === 1 ? { mac: phone.mac, rssi, ts, fp: phone.fp, sn: phone.sn } : { mac: phone.mac, rssi, ts, assoc: true };
    });
    return JSON.stringify({ v: 1, boot: 'p-1', seq: b + 1, ts: baseMs + (b + 1) * 2 * 60_000, obs });
  });
}
