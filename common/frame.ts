/**
 * The store protocol's frame: u32 big-endian n, n bytes of JSON header, then the body. No Node
 * APIs, so the dashboard's browser code uses this file too.
 */
import { CanopyError } from './errors.ts';

export function encodeFrameBytes(header: unknown, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + h.length + body.length);
  new DataView(out.buffer).setUint32(0, h.length);
  out.set(h, 4);
  out.set(body, 4 + h.length);
  return out;
}

export function decodeFrameBytes<T>(payload: Uint8Array): { header: T; body: Uint8Array } {
  if (payload.length < 4) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'store frame shorter than its length prefix');
  const n = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (4 + n > payload.length) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `store frame header of ${n} bytes runs past the ${payload.length}-byte payload`);
  return { header: JSON.parse(new TextDecoder().decode(payload.subarray(4, 4 + n))) as T, body: payload.subarray(4 + n) };
}
