import { InvalidArgumentError } from "@shoal/domain";

/**
 * A service setting from the environment: `env[name]` as an integer in `min..max`, or
 * `fallback` when the variable is unset or empty. InvalidArgumentError naming the variable
 * and the range when it is anything else.
 */
export function readEnvInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
