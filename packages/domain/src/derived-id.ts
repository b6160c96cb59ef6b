import { createHash } from "node:crypto";

/**
 * A name-based UUID (RFC 4122 version 5, SHA-1) for an event that another fact causes:
 * the same `name` always gives the same id, so a consumer that handles a redelivered
 * message appends an event whose id is already recorded (AlreadyExistsError: "done")
 * instead of a second copy. Use a name that says what and why, e.g.
 * `scheduled:<start-requested event id>` or `report:<report id>`.
 */
export function derivedEventId(name: string): string {
  const hash = createHash("sha1").update(SHOAL_NAMESPACE).update(name, "utf8").digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

// Shoal's fixed namespace UUID (bytes), so derived ids never collide with another system's v5 ids.
const SHOAL_NAMESPACE = Buffer.from("6f1d2c3e4b5a49788a9b0c1d2e3f4051", "hex");
