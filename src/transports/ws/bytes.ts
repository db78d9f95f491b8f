/** What send() accepts, as bytes without a copy where possible. */
export type WebSocketData = string | Buffer | ArrayBuffer | ArrayBufferView;

export function toBytes(data: WebSocketData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('data must be a string, Buffer, ArrayBuffer or ArrayBufferView');
}
