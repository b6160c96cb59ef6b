import { execFile } from "node:child_process";
import { randomBytes, sign } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Names a docker-registry `auth.token` section and the token server must agree on. */
export const TOKEN_SERVICE = "shoal-test-registry";
export const TOKEN_ISSUER = "shoal-test-issuer";

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token`: the realm of the registry's Bearer challenge. */
  readonly realm: string;
  /** PEM of the self-signed certificate whose key signs the tokens (the registry's rootcertbundle). */
  readonly certFile: string;
  /** A token for `scope` as the server would issue it to the right user (for pushes). */
  mint(scope: string): string;
  /** Every request the server answered: scope and whether credentials came and matched. */
  readonly requests: { scope: string; user: string | undefined; granted: boolean }[];
  close(): Promise<void>;
}

/**
 * A token server per the distribution token spec, for docker-registry's `auth.token`: a
 * `GET /token?service=…&scope=repository:<name>:<actions>` with Basic credentials of `user`
 * gets a JWT (RS256, the certificate in `x5c`) granting the asked actions; a wrong password
 * gets 401 `{"details":"incorrect username or password"}` (Docker Hub's words); no credentials
 * get a token granting nothing. Keys and certificate are made with openssl in `dir`.
 */
export async function startTokenServer(dir: string, user: { username: string; password: string }): Promise<TokenServer> {
  const keyFile = join(dir, "token.key");
  const certFile = join(dir, "token.crt");
  try {
    await execFileAsync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=shoal-test-token"]);
  } catch (cause) {
    throw new Error("prerequisite missing: openssl (to make the token server's certificate): install openssl", { cause });
  }
  const key = await readFile(keyFile, "utf8");
  const certDer = Buffer.from(
    (await readFile(certFile, "utf8")).replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""),
    "base64",
  ).toString("base64");
  const requests: TokenServer["requests"] = [];

  const mintFor = (scope: string, granted: boolean): string => {
    const now = Math.floor(Date.now() / 1000);
    const [type, name, actions] = scope.split(":");
    const header = { alg: "RS256", typ: "JWT", x5c: [certDer] };
    const claims = {
      iss: TOKEN_ISSUER,
      sub: granted ? user.username : "",
      aud: TOKEN_SERVICE,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access: granted && type !== undefined && name !== undefined ? [{ type, name, actions: (actions ?? "").split(",") }] : [],
    };
    const body = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${body}.${sign("sha256", Buffer.from(body), key).toString("base64url")}`;
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const scope = url.searchParams.get("scope") ?? "";
    const auth = req.headers.authorization;
    let userName: string | undefined;
    let granted = false;
    if (auth?.startsWith("Basic ")) {
      const [u, ...p] = Buffer.from(auth.slice(6), "base64").toString().split(":");
      userName = u;
      if (u !== user.username || p.join(":") !== user.password) {
        requests.push({ scope, user: userName, granted: false });
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ details: "incorrect username or password" }));
        return;
      }
      granted = true;
    }
    requests.push({ scope, user: userName, granted });
    const token = mintFor(scope, granted);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    requests,
    mint: (scope) => mintFor(scope, true),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function b64url(s: string): string {
  return Buffer.from(s).toString("base64url");
}
