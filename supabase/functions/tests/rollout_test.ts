// The rollout bucket must equal the local stack's `rollout_mode` (FNV-1a 64-bit over the user
// id's UTF-8 bytes, offset 0xcbf29ce484222325, prime 0x100000001b3, mod 100). The expected
// buckets were computed independently from that definition, not by this code.

import assert from "node:assert/strict";

import { rolloutBucket, rolloutMode } from "../_shared/rollout.ts";

const EXPECTED: [string, number][] = [
  ["00000000-0000-4000-8000-000000000001", 98],
  ["00000000-0000-4000-8000-000000000002", 87],
  ["00000000-0000-4000-8000-000000000005", 54],
  ["00000000-0000-4000-8000-000000000006", 43],
  ["00000000-0000-4000-8000-000000000010", 12],
  ["a1a1a1a1-0000-4000-8000-000000000001", 62],
  ["11111111-1111-4111-8111-111111111111", 23],
  ["5a150000-0000-4000-8000-000000000001", 94],
  ["ffffffff-ffff-4fff-bfff-ffffffffffff", 87],
  ["", 37],
  ["a", 96],
  // Multi-byte characters hash by their UTF-8 bytes.
  ["élève-ü", 27],
];

Deno.test("rollout: buckets equal FNV-1a 64 mod 100 for fixed ids", () => {
  for (const [id, bucket] of EXPECTED) {
    assert.equal(rolloutBucket(id), bucket, id);
  }
});

Deno.test("rollout: voice iff enabled and bucket < percent; 0 is nobody, 100 everybody", () => {
  const id = "00000000-0000-4000-8000-000000000006"; // bucket 43
  assert.equal(rolloutMode(id, true, 43), "text");
  assert.equal(rolloutMode(id, true, 44), "voice");
  assert.equal(rolloutMode(id, false, 100), "text");
  for (const [other] of EXPECTED) {
    assert.equal(rolloutMode(other, true, 0), "text");
    assert.equal(rolloutMode(other, true, 100), "voice");
  }
});

Deno.test("rollout: raising the percentage only ever moves users from text to voice", () => {
  for (let n = 0; n < 500; n += 1) {
    const id = crypto.randomUUID();
    let seenVoice = false;
    for (let percent = 0; percent <= 100; percent += 5) {
      const mode = rolloutMode(id, true, percent);
      if (seenVoice) assert.equal(mode, "voice", `${id} went back to text at ${percent}%`);
      seenVoice ||= mode === "voice";
    }
  }
});
