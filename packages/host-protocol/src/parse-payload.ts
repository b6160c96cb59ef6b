import type { z } from "zod";
import { InvalidArgumentError } from "@shoal/domain";

/**
 * `payload` checked against `schema`: its parsed value, or InvalidArgumentError
 * `<what>: <field path>: <problem>` naming the first bad field (the zod error is the cause).
 */
export function parsePayload<S extends z.ZodType>(schema: S, what: string, payload: unknown): z.infer<S> {
  const r = schema.safeParse(payload);
  if (r.success) return r.data as z.infer<S>;
  const issue = r.error.issues[0];
  const where = issue?.path.length ? issue.path.join(".") : "payload";
  throw new InvalidArgumentError(`${what}: ${where}: ${issue?.message ?? "invalid"}`, { cause: r.error });
}
