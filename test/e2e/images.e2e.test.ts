/**
 * Images through the `shoal` CLI on a real stack (containerd, runc) and a real registry
 * (Debian's docker-registry) holding images the tests build: pull with and without auth,
 * run with the image's config (compared with a private dockerd running the same image),
 * whiteouts and opaque directories, containers of one image apart, load of both archive
 * formats, rmi refusals, garbage collection after rmi and rm, no leak after a failed start,
 * a pull interrupted by kill -9 of the agent, a checkpoint and restore of an image's
 * container, and bad input refused with nothing left.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildLargeTestImage,
  buildMultiArchTestIndex,
  buildTestImage,
  pushTestImage,
  pushTestIndex,
  startRegistry,
  writeDockerSaveArchive,
  writeOciArchive,
} from "@shoal/testing";
import type { TestImage, TestIndex, TestRegistry } from "@shoal/testing";
import { startPrivateDocker } from "../../bench/lib/private-docker";
import type { PrivateDocker } from "../../bench/lib/private-docker";
import { eventually, startStack } from "./stack";
import type { E2eStack } from "./stack";

const run = promisify(execFile);

let stack: E2eStack;
let registry: TestRegistry;
let authRegistry: TestRegistry;
let image: TestImage;
let index: TestIndex;
let scratch: string;
let home: string;

beforeAll(async () => {
  [stack, registry, authRegistry] = await Promise.all([startStack(), startRegistry(), startRegistry({ auth: { username: "shoal", password: "s3cret" } })]);
  image = await buildTestImage();
  await pushTestImage(registry, "shoal/test", image, { tag: "v1" });
  await pushTestImage(authRegistry, "private/test", image, { tag: "v1", auth: authRegistry.auth! });
  index = await buildMultiArchTestIndex();
  await pushTestIndex(registry, "shoal/multi", index, { tag: "v1" });
  scratch = await mkdtemp(join(tmpdir(), "shoal-images-e2e-"));
  home = join(scratch, "cli-home");
}, 240_000);

afterAll(async () => {
  await stack?.teardown();
  await registry?.stop();
  await authRegistry?.stop();
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
});

async function shoal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return stack.cli(args, { env: { SHOAL_CONFIG: home }, timeoutMs: 180_000 });
}

async function ok(...args: string[]): Promise<string> {
  const r = await shoal(...args);
  expect(r.code, `shoal ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** `ctr` against the stack's containerd, namespace shoal. */
async function ctr(...args: string[]): Promise<string> {
  return (await run("ctr", ["--address", stack.containerd.socket, "-n", "shoal", ...args])).stdout;
}

const short = (digest: string) => digest.slice(7, 19);
const ref = () => `${registry.host}/shoal/test:v1`;

async function containerCount(): Promise<number> {
  return (await ok("ps", "-a", "-q")).trim().split("\n").filter((l) => l !== "").length;
}

describe("pull", () => {
  it("pulls from a plain-HTTP loopback registry, printing Docker's lines, and lists the image", async () => {
    const out = await ok("pull", ref());
    expect(out).toContain(`v1: Pulling from shoal/test`);
    expect(out).toMatch(/: Pull complete\n/);
    expect(out).toContain(`Digest: ${image.manifestDescriptor.digest}`);
    expect(out).toContain(`Status: Downloaded newer image for ${ref()}`);
    expect(out.trim().split("\n").at(-1)).toBe(ref());

    const again = await ok("pull", ref());
    expect(again).toContain(`Status: Image is up to date for ${ref()}`);
    expect(again).toMatch(/: Already exists\n/);

    const images = await ok("images");
    expect(images.split("\n")[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
    expect(images).toMatch(new RegExp(`${registry.host}/shoal/test\\s+v1\\s+${short(image.configDescriptor.digest)}`));
    expect((await ok("images", "-q")).trim().split("\n")).toContain(short(image.configDescriptor.digest));
    const json = (await ok("images", "--format", "json", "--filter", "reference=*/shoal/test")).trim().split("\n").map((l) => JSON.parse(l));
    expect(json).toEqual([expect.objectContaining({ Repository: `${registry.host}/shoal/test`, Tag: "v1", ID: short(image.configDescriptor.digest) })]);
    expect((await ok("images", "--filter", "reference=nothing*")).trim().split("\n")).toHaveLength(1);
    const inspect = JSON.parse(await ok("image", "inspect", ref()))[0];
    expect(inspect).toMatchObject({ Id: image.configDescriptor.digest, RepoTags: [ref()], Config: { WorkingDir: "/app", User: "1000:1000" } });
  });

  it("takes this platform's image from a multi-arch index", async () => {
    await ok("pull", `${registry.host}/shoal/multi:v1`);
    const amd64 = index.images.find((i) => i.platform.architecture === "amd64")!;
    expect(JSON.parse(await ok("image", "inspect", `${registry.host}/shoal/multi:v1`))[0]).toMatchObject({ Id: amd64.configDescriptor.digest, Architecture: "amd64" });
    expect(await ok("run", "--rm", `${registry.host}/shoal/multi:v1`, "echo $SHOAL_TEST_ARCH")).toBe("amd64\n");
  });

  it("with credentials from shoal login, and not without them or with a wrong password", async () => {
    const priv = `${authRegistry.host}/private/test:v1`;
    const anonymous = await shoal("pull", priv);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain("unauthorized");
    expect(await ok("login", "-u", "shoal", "-p", "wrong", authRegistry.host)).toContain("Login Succeeded");
    const wrong = await shoal("pull", priv);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("unauthorized");
    expect(await ok("images", "-q", priv)).toBe("");

    expect(await ok("login", "-u", "shoal", "-p", "s3cret", authRegistry.host)).toContain("Login Succeeded");
    const config = JSON.parse(await readFile(join(home, "config.json"), "utf8"));
    expect(config.auths[authRegistry.host].auth).toBe(Buffer.from("shoal:s3cret").toString("base64"));
    expect(await ok("pull", priv)).toContain(`Status: Downloaded newer image for ${priv}`);
    // run pulls a missing image itself, with the same credentials.
    await ok("rmi", priv);
    const ran = await shoal("run", "--rm", priv);
    expect(ran.stderr).toContain(`Unable to find image '${priv}' locally`);
    expect(ran.stdout).toBe("hello from a Shoal test image\n");
    expect(await ok("logout", authRegistry.host)).toContain(`Removing login credentials for ${authRegistry.host}`);
  });
});

describe("run", () => {
  it("applies the image's layers: added and changed files, a whiteout, an opaque directory", async () => {
    const checks = [
      ...Object.entries(image.expected.files).map(([path, content]) => `[ "$(cat '/${path}')" = '${content.replace(/\n$/, "")}' ] || echo "wrong: ${path}"`),
      ...image.expected.absent.map((path) => `[ ! -e '/${path}' ] || echo "present: ${path}"`),
      "echo done",
    ];
    expect(await ok("run", "--rm", "-u", "0", ref(), checks.join("; "))).toBe("done\n");
  });

  it("keeps two containers of one image apart: each writes its own layer", async () => {
    const a = (await ok("run", "-d", "-u", "0", "--name", "iso-a", ref(), "sleep 300")).trim();
    const b = (await ok("run", "-d", "-u", "0", "--name", "iso-b", ref(), "sleep 300")).trim();
    await ok("exec", a, "sh", "-c", "echo from-a > /app/mine; echo changed > /etc/motd");
    expect(await ok("exec", b, "sh", "-c", "cat /etc/motd; ls /app")).not.toContain("from-a");
    expect(await ok("exec", b, "cat", "/etc/motd")).toBe("hello from a Shoal test image\n");
    // The writable layer outlives a stop, as Docker's does.
    await ok("stop", "-t", "0", a);
    await ok("start", a);
    expect(await ok("exec", a, "cat", "/app/mine")).toBe("from-a\n");
    await ok("rm", "-f", a, b);
  });

  it("runs the same image as a private dockerd runs it, flag for flag", async () => {
    let docker: PrivateDocker | undefined;
    try {
      docker = await startPrivateDocker("images-e2e");
      await docker.docker(["pull", ref()]);
      const cases: Array<[flags: string[], args: string[]]> = [
        [[], []],
        [[], ["id -u; id -g; pwd; echo $SHOAL_TEST_IMAGE"]],
        [["-u", "0", "-w", "/", "--entrypoint", "/bin/pwd"], []],
        [["-e", "SHOAL_TEST_IMAGE=override", "-w", "/tmp"], ["echo $SHOAL_TEST_IMAGE; pwd; id -u"]],
        [["--entrypoint", ""], ["/bin/echo", "plain", "args"]],
        [["-u", "0:0", "--entrypoint", "/bin/sh"], ["-c", "id; echo $PATH"]],
      ];
      for (const [flags, args] of cases) {
        const theirs = await docker.docker(["run", "--rm", ...flags, ref(), ...args]);
        expect(await ok("run", "--rm", ...flags, ref(), ...args), `run ${[...flags, ...args].join(" ")}`).toBe(theirs);
      }
      // inspect's Config and Image as Docker's.
      await docker.docker(["create", "--name", "cmp", ref(), "echo hi"]);
      const id = (await ok("create", "--name", "cmp", ref(), "echo hi")).trim();
      const d = JSON.parse(await docker.docker(["inspect", "cmp"]))[0];
      const s = JSON.parse(await ok("inspect", id))[0];
      expect(s.Image).toBe(d.Image);
      for (const k of ["Image", "User", "Cmd", "Entrypoint", "WorkingDir", "StopSignal"]) expect(s.Config[k], `Config.${k}`).toEqual(d.Config[k]);
      expect(s.Config.Env).toEqual(expect.arrayContaining(d.Config.Env.filter((e: string) => !e.startsWith("HOSTNAME="))));
      await ok("rm", id);
    } finally {
      await docker?.stop();
    }
  }, 300_000);

  it("refuses an image no registry has with exit 125, creating nothing", async () => {
    const before = await containerCount();
    const r = await shoal("run", "--rm", `${registry.host}/shoal/test:nope`);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`manifest for ${registry.host}/shoal/test:nope not found: manifest unknown`);
    expect(await containerCount()).toBe(before);
  });

  it("leaks no snapshot or mount after a failed start", async () => {
    const r = await shoal("run", "--name", "fails", "--entrypoint", "/no/such/binary", ref());
    expect(r.code).toBe(127);
    const id = (await ok("inspect", "-f", "{{.Id}}", "fails")).trim();
    expect(await ctr("snapshots", "ls")).not.toContain(id);
    expect((await stack.mountsUnderStateRoot()).filter((m) => m.includes(id))).toEqual([]);
    await ok("rm", "fails");
  });
});

describe("checkpoint", () => {
  it("checkpoints and restores a container of an image with its writable layer", async () => {
    await ok("config", "set", "experimental=true");
    try {
      await ok("run", "-d", "-u", "0", "--name", "cp-img", ref(), "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done");
      await ok("exec", "cp-img", "sh", "-c", "echo kept > /etc/marker");
      const before = Number((await ok("exec", "cp-img", "cat", "/tmp/count")).trim());
      await ok("checkpoint", "create", "cp-img", "c1");
      await ok("start", "--checkpoint", "c1", "cp-img");
      expect(await ok("exec", "cp-img", "cat", "/etc/marker")).toBe("kept\n");
      const after = await eventually("the loop counts on", async () => {
        const n = Number((await ok("exec", "cp-img", "cat", "/tmp/count")).trim());
        return n > before ? n : undefined;
      });
      expect(after).toBeGreaterThan(before);
      await ok("rm", "-f", "cp-img");
    } finally {
      await ok("config", "set", "experimental=false");
    }
  }, 120_000);
});

describe("load", () => {
  it("loads a docker save archive and an OCI archive, which run as the pulled image does", async () => {
    const saved = join(scratch, "saved.tar");
    const oci = join(scratch, "oci.tar");
    await writeDockerSaveArchive(image, saved, { repoTags: ["loaded/save:v1"] });
    await writeOciArchive(image, oci, { imageName: "docker.io/loaded/oci:v1", refName: "v1" });
    expect(await ok("load", "-i", saved)).toBe("Loaded image: loaded/save:v1\n");
    expect(await ok("load", "-i", oci)).toBe("Loaded image: loaded/oci:v1\n");
    for (const name of ["loaded/save:v1", "loaded/oci:v1"]) {
      expect(await ok("run", "--rm", name, "cat /etc/motd; id -u; pwd; ls /opq | wc -l")).toBe("hello from a Shoal test image\n1000\n/app\n1\n");
    }
    // save writes what load reads.
    const out = join(scratch, "roundtrip.tar");
    await ok("save", "-o", out, "loaded/save:v1");
    await ok("rmi", "loaded/save:v1");
    expect(await ok("load", "-i", out)).toBe("Loaded image: loaded/save:v1\n");
    expect(await ok("run", "--rm", "loaded/save:v1")).toBe("hello from a Shoal test image\n");
  });

  it("refuses a truncated archive, loading nothing", async () => {
    const whole = join(scratch, "whole.tar");
    await writeDockerSaveArchive(image, whole, { repoTags: ["loaded/truncated:v1"] });
    const cut = join(scratch, "truncated.tar");
    await writeFile(cut, (await readFile(whole)).subarray(0, 40_000));
    const r = await shoal("load", "-i", cut);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/invalid archive|Error processing tar file/);
    expect(await ok("images", "-q", "loaded/truncated")).toBe("");
  });
});

describe("rmi", () => {
  /** An image of its own (no other test's names or layers share it), pushed as `shoal/<name>:v1`. */
  async function ownImage(name: string): Promise<{ image: TestImage; ref: string }> {
    const own = await buildTestImage({ extraLayers: [[{ type: "file", path: `own-${name}`, content: `${name}\n` }]] });
    await pushTestImage(registry, `shoal/${name}`, own, { tag: "v1" });
    return { image: own, ref: `${registry.host}/shoal/${name}:v1` };
  }

  it("refuses an image a container uses as Docker does, and -f as Docker", async () => {
    const { image: own, ref: r } = await ownImage("rmi");
    const imageId = short(own.configDescriptor.digest);
    await ok("pull", r);
    await ok("tag", r, "rmi/test:v1");
    const id = (await ok("create", "--name", "uses", "rmi/test:v1", "sleep 300")).trim();
    // With another name left, a reference only untags.
    expect(await ok("rmi", r)).toBe(`Untagged: ${r}\n`);
    const refused = await shoal("rmi", "rmi/test:v1");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`conflict: unable to remove repository reference "rmi/test:v1" (must force) - container ${id.slice(0, 12)} is using its referenced image ${imageId}`);
    const byId = await shoal("rmi", imageId);
    expect(byId, JSON.stringify(byId)).toMatchObject({ code: 1 });
    expect(byId.stderr).toContain(`conflict: unable to delete ${imageId} (must be forced) - image is being used by stopped container ${id.slice(0, 12)}`);
    // Running: not even -f deletes it by id; -f of the reference untags and leaves it nameless.
    await ok("start", id);
    const running = await shoal("rmi", "-f", imageId);
    expect(running, JSON.stringify(running)).toMatchObject({ code: 1 });
    expect(running.stderr).toContain(`conflict: unable to delete ${imageId} (cannot be forced) - image is being used by running container ${id.slice(0, 12)}`);
    expect(await ok("rmi", "-f", "rmi/test:v1")).toBe("Untagged: rmi/test:v1\n");
    expect(await ok("images")).toMatch(new RegExp(`<none>\\s+<none>\\s+${imageId}`));
    // Once the container is gone, the nameless image goes by its id.
    await ok("rm", "-f", id);
    expect(await ok("rmi", imageId)).toBe(`Deleted: ${own.configDescriptor.digest}\n`);
  });

  it("frees the image's content and snapshots after rmi and rm", async () => {
    const { image: own, ref: r } = await ownImage("gc");
    await ok("pull", r);
    const id = (await ok("run", "-d", r, "sleep 300")).trim();
    const top = own.layers.at(-1)!;
    const digests = [own.configDescriptor.digest, own.manifestDescriptor.digest, top.descriptor.digest];
    expect(await ctr("content", "ls", "-q")).toContain(top.descriptor.digest);
    expect(await ctr("snapshots", "ls")).toContain(id);
    await ok("rm", "-f", id);
    expect(await ctr("snapshots", "ls")).not.toContain(id);
    await ok("rmi", r);
    const content = await ctr("content", "ls", "-q");
    for (const d of digests) expect(content, d).not.toContain(d);
    // The top layer's snapshot is named by its chain ID; only this image had it. The layers below stay (other images share them).
    const chains = own.layers.reduce<string[]>((acc, l) => [...acc, acc.length === 0 ? l.diffId : `sha256:${createHash("sha256").update(`${acc.at(-1)} ${l.diffId}`).digest("hex")}`], []);
    const snapshots = await ctr("snapshots", "ls");
    expect(snapshots).not.toContain(chains.at(-1));
    expect(snapshots).toContain(chains[0]);
    expect(await ok("images", "-q")).not.toContain(short(own.configDescriptor.digest));
  });
});

describe("faults and bad input", () => {
  it("refuses bad references, unknown hosts, missing tags and tampered blobs, pulling nothing", async () => {
    const images = await ok("images", "-q");
    const cases: Array<[string, string]> = [
      ["Bad//Ref", "invalid reference format"],
      ["nosuch.invalid/x:1", "nosuch.invalid"],
      [`${registry.host}/shoal/test:nope`, "manifest unknown"],
    ];
    for (const [reference, words] of cases) {
      const r = await shoal("pull", reference);
      expect(r.code, reference).toBe(1);
      expect(r.stderr, reference).toContain(words);
    }
    const tampered = await buildTestImage({ extraLayers: [[{ type: "file", path: "tampered", content: "original bytes\n" }]] });
    await pushTestImage(registry, "shoal/tampered", tampered, { tag: "v1" });
    const layer = tampered.layers.at(-1)!.descriptor.digest;
    const blob = registry.blobDataPath(layer);
    const bytes = await readFile(blob);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    await writeFile(blob, bytes);
    const r = await shoal("pull", `${registry.host}/shoal/tampered:v1`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(layer);
    expect(await ok("images", "-q")).toBe(images);
    expect(await ctr("content", "ls", "-q")).not.toContain(layer);
  });

  it("a pull cut by kill -9 of the agent succeeds on retry", async () => {
    const big = await buildLargeTestImage({ totalBytes: 40 * 1024 * 1024, layers: 4 });
    await pushTestImage(registry, "shoal/big", big, { tag: "v1" });
    const pulling = shoal("pull", `${registry.host}/shoal/big:v1`);
    await eventually("a layer is being written", async () => ((await ctr("content", "active")).trim().split("\n").length > 1 ? true : undefined), 60_000);
    await stack.kill9("runtime-agent");
    expect((await pulling).code).not.toBe(0);
    await stack.restart("runtime-agent");
    await ok("pull", `${registry.host}/shoal/big:v1`);
    expect(await ok("run", "--rm", `${registry.host}/shoal/big:v1`, "ls /big | wc -l")).toBe("4\n");
    await ok("rmi", `${registry.host}/shoal/big:v1`);
  }, 240_000);
});
