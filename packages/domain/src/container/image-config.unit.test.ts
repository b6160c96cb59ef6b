import { describe, expect, it } from "vitest";
import { mergeImageConfig } from "./image-config";

const image = {
  entrypoint: ["/bin/entry"],
  cmd: ["serve", "--port", "80"],
  env: ["PATH=/usr/bin:/bin", "MODE=image", "KEEP=1"],
  workingDir: "/srv",
  user: "nobody",
  stopSignal: "SIGQUIT",
};

describe("mergeImageConfig (Docker's create rules)", () => {
  it("with nothing given runs the image's entrypoint and cmd, with its env, workdir, user and stop signal", () => {
    expect(mergeImageConfig(image, { cmd: [], env: [] })).toEqual({
      entrypoint: ["/bin/entry"],
      cmd: ["serve", "--port", "80"],
      args: ["/bin/entry", "serve", "--port", "80"],
      env: ["PATH=/usr/bin:/bin", "MODE=image", "KEEP=1"],
      workingDir: "/srv",
      user: "nobody",
      stopSignal: "SIGQUIT",
    });
  });

  it("a command replaces the image's Cmd and keeps its entrypoint", () => {
    expect(mergeImageConfig(image, { cmd: ["check"], env: [] }).args).toEqual(["/bin/entry", "check"]);
  });

  it("--entrypoint drops the image's Cmd; arguments after the image follow it", () => {
    expect(mergeImageConfig(image, { entrypoint: ["/bin/sh"], cmd: [], env: [] }).args).toEqual(["/bin/sh"]);
    expect(mergeImageConfig(image, { entrypoint: ["/bin/sh"], cmd: ["-c", "id"], env: [] }).args).toEqual(["/bin/sh", "-c", "id"]);
  });

  it('--entrypoint "" clears the entrypoint and runs the command as given', () => {
    expect(mergeImageConfig(image, { entrypoint: [], cmd: ["ls"], env: [] })).toMatchObject({ entrypoint: [], args: ["ls"] });
    expect(mergeImageConfig(image, { entrypoint: [""], cmd: ["ls"], env: [] })).toMatchObject({ entrypoint: [], args: ["ls"] });
  });

  it('refuses "No command specified" when nothing is left to run', () => {
    expect(() => mergeImageConfig(image, { entrypoint: [], cmd: [], env: [] })).toThrow("No command specified");
    expect(() => mergeImageConfig({}, { cmd: [], env: [] })).toThrow("No command specified");
  });

  it("puts the user's env first and keeps each image variable the user did not set", () => {
    expect(mergeImageConfig(image, { cmd: [], env: ["MODE=user", "NEW=2"] }).env).toEqual(["MODE=user", "NEW=2", "PATH=/usr/bin:/bin", "KEEP=1"]);
  });

  it("-w, -u and a stop signal given win over the image's", () => {
    expect(mergeImageConfig(image, { cmd: [], env: [], workingDir: "/tmp", user: "0:0", stopSignal: "SIGINT" })).toMatchObject({
      workingDir: "/tmp",
      user: "0:0",
      stopSignal: "SIGINT",
    });
  });
});
