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
  /** Device timestamps more than this far in the future are out of protocol, in ms (1 day). */
  futureSkewMaxMs: 24 * 60 * 60 * 1000,
  /** Device timestamps older than this are out of protocol, in ms (30 days of buffered upload). */
  pastAgeMaxMs: 30 * 24 * 60 * 60 * 1000,
  /** 802.11 sequence numbers are 12 bits. */
  seqNumberMax: 4095,
  fingerprintMaxHexChars: 64,
  firmwareVersionMaxLength: 32,
} as const;
