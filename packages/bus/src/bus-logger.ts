/**
 * The logging this package does, shaped so a pino logger can be passed as is.
 * The first argument is structured context, the second the message.
 */
export interface BusLogger {
  info(context: Record<string, unknown>, message: string): void;
  warn(context: Record<string, unknown>, message: string): void;
  error(context: Record<string, unknown>, message: string): void;
}

/** JSON lines on stderr; used when the caller passes no logger. */
export const stderrBusLogger: BusLogger = {
  info: (context, message) => write("info", context, message),
  warn: (context, message) => write("warn", context, message),
  error: (context, message) => write("error", context, message),
};

function write(level: string, context: Record<string, unknown>, message: string): void {
  const line = { level, time: new Date().toISOString(), msg: message, ...context };
  process.stderr.write(`${JSON.stringify(line, (_k, v: unknown) => (v instanceof Error ? errorToJson(v) : v))}\n`);
}

function errorToJson(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { type: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  if (err.cause !== undefined) out.cause = err.cause instanceof Error ? errorToJson(err.cause) : String(err.cause);
  return out;
}
