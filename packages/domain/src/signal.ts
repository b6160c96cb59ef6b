/**
 * Signals for `kill`, as Docker parses them: a number, or a name with or without
 * `SIG`, case-insensitive, including `RTMIN+n` / `RTMAX-n`. Linux numbering.
 */
import { InvalidArgumentError } from "./errors";

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9,
  USR1: 10, SEGV: 11, USR2: 12, PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17,
  CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23, XCPU: 24, XFSZ: 25,
  VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31, RTMIN: 34, RTMAX: 64,
};

/** Signal sent by `kill` when none is given. */
export const DEFAULT_KILL_SIGNAL = 9;

/**
 * The signal number for `s`; `""` means SIGKILL (Docker's default for kill).
 * Throws InvalidArgumentError `invalid signal: <s>` for unknown names, 0, or numbers
 * outside 1–64.
 */
export function parseSignal(s: string | number): number {
  const invalid = () => new InvalidArgumentError(`invalid signal: ${s}`);
  if (s === "") return DEFAULT_KILL_SIGNAL;
  if (typeof s === "number" || /^\d+$/.test(s)) {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw invalid();
    return n;
  }
  const name = s.toUpperCase().replace(/^SIG/, "");
  const rt = /^(RTMIN\+|RTMAX-)(\d+)$/.exec(name);
  if (rt) {
    const offset = Number(rt[2]);
    const n = rt[1] === "RTMIN+" ? 34 + offset : 64 - offset;
    if (offset < 1 || n < 34 || n > 64) throw invalid();
    return n;
  }
  const n = SIGNALS[name];
  if (n === undefined) throw invalid();
  return n;
}
