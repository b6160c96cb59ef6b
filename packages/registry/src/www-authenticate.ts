/**
 * One challenge of a `WWW-Authenticate` header (RFC 7235): `Bearer realm="…",service="…",scope="…"`
 * or `Basic realm="…"`. `scheme` is lowercased; parameter names are lowercased, values unquoted.
 */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses a `WWW-Authenticate` value into its challenges, in order. Tolerates what registries
 * send in practice: several challenges in one header separated by commas, quoted values with
 * `\"` escapes and commas inside (a `scope` may hold several), and unquoted tokens. A part it
 * cannot read is skipped rather than failing the whole header; an empty header gives `[]`.
 */
export function parseWwwAuthenticate(header: string): AuthChallenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  let i = 0;
  const n = header.length;
  const skipSpaces = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  const readBare = (): string => {
    const start = i;
    while (i < n && header[i] !== "," && header[i] !== " " && header[i] !== "\t") i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // header[i] is the opening quote.
    i++;
    let value = "";
    while (i < n && header[i] !== '"') {
      if (header[i] === "\\" && i + 1 < n) i++;
      value += header[i];
      i++;
    }
    i++; // closing quote (or end)
    return value;
  };

  while (i < n) {
    skipSpaces();
    if (header[i] === ",") {
      i++;
      continue;
    }
    const token = readToken();
    if (token === "") {
      i++; // unreadable character: skip it
      continue;
    }
    skipSpaces();
    if (header[i] === "=" && challenges.length > 0) {
      // `name=value`: a parameter of the current challenge.
      i++;
      skipSpaces();
      const value = header[i] === '"' ? readQuoted() : readBare();
      (challenges[challenges.length - 1] as { params: Record<string, string> }).params[token.toLowerCase()] = value;
      continue;
    }
    // Otherwise a new challenge: its scheme; its parameters follow (a token68 is skipped).
    challenges.push({ scheme: token.toLowerCase(), params: {} });
  }
  return challenges;
}
