/**
 * Reads MQTT fixed headers as bytes arrive and rejects a packet whose declared remaining length exceeds the
 * limit — before its body is buffered. aedes has no packet size limit of its own, and mqtt-packet would
 * otherwise buffer a declared 256 MB packet in full. [MQTT-2.2.3]: remaining length is a 1–4 byte varint.
 */
export class PacketGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private lengthValue = 0;
  private lengthMultiplier = 1;
  private lengthBytes = 0;
  private bodyRemaining = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Returns false when the stream contains a packet that is too large or a malformed length. */
  feed(chunk: Uint8Array): boolean {
    let offset = 0;
    while (offset < chunk.length) {
      switch (this.state) {
        case 'type':
          offset += 1;
          this.state = 'length';
          this.lengthValue = 0;
          this.lengthMultiplier = 1;
          this.lengthBytes = 0;
          break;
        case 'length': {
          const byte = chunk[offset] as number;
          offset += 1;
          this.lengthValue += (byte & 0x7f) * this.lengthMultiplier;
          this.lengthMultiplier *= 128;
          this.lengthBytes += 1;
          if (this.lengthValue > this.maxPacketBytes) return false;
          if ((byte & 0x80) !== 0) {
            if (this.lengthBytes >= 4) return false; // [MQTT-2.2.3] at most four length bytes
            break;
          }
          this.bodyRemaining = this.lengthValue;
          this.state = this.bodyRemaining === 0 ? 'type' : 'body';
          break;
        }
        case 'body': {
          const take = Math.min(this.bodyRemaining, chunk.length - offset);
          offset += take;
          this.bodyRemaining -= take;
          if (this.bodyRemaining === 0) this.state = 'type';
          break;
        }
      }
    }
    return true;
  }
}
