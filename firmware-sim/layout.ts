import type { MallConfig } from './mall-config.ts';
import type { Random } from './random.ts';

/**
 * The mall floor as the simulator sees it: stores side by side along one corridor (x grows away from the mall
 * entrance), each from its front (y = 0) to its back wall (y = depthM). Shoppers walk at y = -corridorOffsetM.
 */
export interface Position {
  x: number;
  y: number;
  /** Index of the store the point is in, or -1 in the corridor. */
  store: number;
}

export interface StoreArea {
  index: number;
  id: string;
  x0: number;
  widthM: number;
  depthM: number;
  /** x of the store front's middle: where a passing shopper decides to walk in. */
  frontX: number;
}

export interface ProbeSpot {
  deviceId: string;
  store: number;
  x: number;
  y: number;
}

export class Layout {
  readonly stores: StoreArea[];
  readonly probes: ProbeSpot[];
  readonly lengthM: number;
  readonly corridorY: number;

  constructor(config: MallConfig) {
    let x = 0;
    this.stores = config.stores.map((s, index) => {
      const area = { index, id: s.id, x0: x, widthM: s.widthM, depthM: s.depthM, frontX: x + s.widthM / 2 };
      x += s.widthM;
      return area;
    });
    this.lengthM = x;
    this.corridorY = -config.layout.corridorOffsetM;
    this.probes = config.stores.flatMap((s, index) =>
      s.probes.map((p) => ({ deviceId: p.id, store: index, x: (this.stores[index]?.x0 ?? 0) + (p.xM ?? s.widthM / 2), y: p.yM ?? s.depthM / 2 })),
    );
  }

  /** A random spot inside a store. */
  spotIn(store: number, rng: Random): Position {
    const area = this.stores[store];
    if (area === undefined) throw new Error(`no store #${store}`);
    return { x: area.x0 + rng.range(0.5, area.widthM - 0.5), y: rng.range(1, area.depthM - 0.5), store };
  }

  corridorAt(x: number): Position {
    return { x, y: this.corridorY, store: -1 };
  }
}

export type RadioSpec = MallConfig['radio'];

/** Received signal of a phone's frame at a probe: log-distance path loss, walls, log-normal shadowing. */
export function rssiAt(radio: RadioSpec, phone: Position, probe: ProbeSpot, rng: Random): number {
  const d = Math.max(1, Math.hypot(phone.x - probe.x, phone.y - probe.y));
  let loss = 10 * radio.pathLossExponent * Math.log10(d);
  if (phone.store === -1) loss += radio.frontLossDb;
  else if (phone.store !== probe.store) loss += radio.wallLossDb * Math.min(3, Math.abs(phone.store - probe.store));
  return radio.txPowerDbmAt1m - loss + radio.noiseSigmaDb * rng.normal();
}

/** Probability that a probe captures a frame at this RSSI: a soft threshold around the sensitivity. */
export function captureProbability(radio: RadioSpec, rssiDbm: number): number {
  return radio.captureProbability / (1 + Math.exp(-(rssiDbm - radio.sensitivityDbm) / 2));
}
