/** Bounds the protocol enforces. Firmware must stay inside them; the platform rejects anything outside. */
export const protocolLimits = {
  idMaxLength: 64,
  bootIdMaxLength: 64,
  /** Largest MQTT packet the broker accepts, in bytes. A full probe batch is ~60 KB. */
  maxPacketBytes: 256 * 1024,
  /** Sightings per probe batch. */
  probeBatchMax: 1000,
  /** RSSI range accepted, in dBm. Below -120 is noise floor; above 0 is not a received power. */
  rssiMinDbm: -120,
  rssiMaxDbm: 0,
  /** Running totals are uint32 on the wire. */
  counterMax: 0xffff_ffff,
  seqMax: Number.MAX_SAFE_INTEGER,
  /** Device timestamps further than this ahead of receive time are replaced by receive time by ingest, in ms (5 min). */
  futureSkewMaxMs: 5 * 60 * 1000,
  /** Readings older than this (device time vs receive time) are dead-lettered by ingest, in ms (7 days). */
  lateDataMaxMs: 7 * 24 * 60 * 60 * 1000,
  /** 802.11 sequence numbers are 12 bits. */
  seqNumberMax: 4095,
  fingerprintMaxHexChars: 64,
  firmwareVersionMaxLength: 32,
} as const;
