/**
 * `--security-opt` values, in Docker's shapes: `key=value` for the keys below, or the
 * bare flag `no-new-privileges` (same as `no-new-privileges=true`). Docker's old
 * `key:value` form is refused.
 */
import { InvalidArgumentError } from "./errors";

export type SecurityOptKey = "apparmor" | "seccomp" | "label" | "no-new-privileges" | "systempaths" | "writable-cgroups";

export type SecurityOpt = { key: SecurityOptKey; value: string };

const KEYS: readonly SecurityOptKey[] = [
  "apparmor",
  "seccomp",
  "label",
  "no-new-privileges",
  "systempaths",
  "writable-cgroups",
];

/**
 * Parses one option. Throws InvalidArgumentError `invalid security option "<s>": <why>`
 * when the key is unknown, the value is empty, `no-new-privileges`/`writable-cgroups`
 * is not `true`/`false`, or `systempaths` is not `unconfined`.
 */
export function parseSecurityOpt(s: string): SecurityOpt {
  const invalid = (why: string) => new InvalidArgumentError(`invalid security option "${s}": ${why}`);
  if (s === "no-new-privileges") return { key: "no-new-privileges", value: "true" };
  const eq = s.indexOf("=");
  if (eq < 0) {
    throw invalid(`want key=value with key one of ${KEYS.join(", ")}, or the bare flag no-new-privileges`);
  }
  const key = s.slice(0, eq);
  const value = s.slice(eq + 1);
  if (!(KEYS as readonly string[]).includes(key)) throw invalid(`unknown key "${key}" (want one of ${KEYS.join(", ")})`);
  if (value === "") throw invalid("empty value");
  const k = key as SecurityOptKey;
  if ((k === "no-new-privileges" || k === "writable-cgroups") && value !== "true" && value !== "false") {
    throw invalid(`${k} must be true or false`);
  }
  if (k === "systempaths" && value !== "unconfined") throw invalid("systempaths only accepts unconfined");
  return { key: k, value };
}
