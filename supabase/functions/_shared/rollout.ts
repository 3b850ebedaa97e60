// Staged rollout of the voice path: a stable bucket per user, so raising the percentage moves
// users over one way and never flips anyone back and forth. Must equal the local stack's
// `viva_localstack::functions::rollout_mode` (FNV-1a 64-bit over the id's UTF-8 bytes, mod 100).

const OFFSET = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/** The user's bucket, 0–99. */
export function rolloutBucket(userId: string): number {
  let hash = OFFSET;
  for (const byte of new TextEncoder().encode(userId)) {
    hash = ((hash ^ BigInt(byte)) * PRIME) & MASK;
  }
  return Number(hash % 100n);
}

/** "voice" when the tenant has voice on and the user's bucket is inside the rollout. */
export function rolloutMode(
  userId: string,
  voiceEnabled: boolean,
  voicePercent: number,
): "voice" | "text" {
  return voiceEnabled && rolloutBucket(userId) < voicePercent ? "voice" : "text";
}
