import { describe, expect, it } from "vitest";
import { parseCommandLine, parseTimeArg, parseVolumeSpec, UsageError } from "./parse-command-line";
import type { CliCommand } from "./parse-command-line";

const NOW = new Date("2026-11-23T12:00:00Z");
const ctx = { env: { HOME: "/root" } as Record<string, string | undefined>, now: NOW };

function parse(line: string | string[], env: Record<string, string | undefined> = ctx.env) {
  const argv = Array.isArray(line) ? line : line.split(" ").filter((a) => a !== "");
  return parseCommandLine(argv, { env, now: NOW });
}
function command<K extends CliCommand["kind"]>(line: string | string[], kind: K): Extract<CliCommand, { kind: K }> {
  const { command: c } = parse(line);
  expect(c.kind).toBe(kind);
  return c as Extract<CliCommand, { kind: K }>;
}
function usageError(line: string | string[]): UsageError {
  try {
    parse(line);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return err as UsageError;
  }
  throw new Error(`expected a usage error for ${String(line)}`);
}

describe("run / create", () => {
  it("maps every flag onto the CreateContainer request", () => {
    const run = command(
      [
        "run",
        "-d",
        "--rm",
        "--name",
        "web",
        "--ipc",
        "container:db",
        "--shm-size=128m",
        "--runtime",
        "crun",
        "--security-opt",
        "no-new-privileges",
        "--security-opt=apparmor=unconfined",
        "--host",
        "h1",
        "--read-only",
        "--privileged",
        "-e",
        "A=1",
        "--env=B=2",
        "-eC=3",
        "-w",
        "/srv",
        "-v",
        "/data:/data:ro",
        "--volume",
        "/tmp:/scratch",
        "-m",
        "256m",
        "--cpus=1.5",
        "--restart",
        "on-failure:3",
        "--stop-on-disconnect",
        "20s",
        "busybox",
        "sh",
        "-c",
        "echo hi",
      ],
      "run",
    );
    expect(run.detach).toBe(true);
    expect(run.request).toEqual({
      name: "web",
      rootfs: "",
      image: "busybox",
      args: ["sh", "-c", "echo hi"],
      env: ["A=1", "B=2", "C=3"],
      cwd: "/srv",
      host: "h1",
      host_config: {
        ipc_mode: "container:db",
        shm_size: "128m",
        auto_remove: true,
        runtime: "crun",
        security_opt: ["no-new-privileges", "apparmor=unconfined"],
        readonly_rootfs: true,
        mounts: [
          { source: "/data", target: "/data", readonly: true, readonly_mode: "" },
          { source: "/tmp", target: "/scratch", readonly: false, readonly_mode: "" },
        ],
        privileged: true,
        memory: "256m",
        cpus: "1.5",
        restart_policy: "on-failure:3",
        stop_on_disconnect: "20s",
      },
    });
  });

  it("with --rootfs, every positional is the command", () => {
    const run = command("run --rootfs /var/lib/rootfs/busybox sleep 10", "run");
    expect(run.request.rootfs).toBe("/var/lib/rootfs/busybox");
    expect(run.request.image).toBe("");
    expect(run.request.args).toEqual(["sleep", "10"]);
    expect(run.detach).toBe(false);
  });

  it("stops flag parsing at the image: later flags belong to the container's command", () => {
    const run = command("run --ipc shareable busybox ls -d --rm /", "run");
    expect(run.request.args).toEqual(["ls", "-d", "--rm", "/"]);
    expect(run.request.host_config.auto_remove).toBe(false);
    expect(run.detach).toBe(false);
  });

  it("`--` ends flags, so an image or command may start with a dash", () => {
    const run = command("run --rootfs /r -- -weird --flag", "run");
    expect(run.request.args).toEqual(["-weird", "--flag"]);
  });

  it("groups short booleans and takes attached short values", () => {
    const run = command("run -dw/work -eX=1 busybox true", "run");
    expect(run.detach).toBe(true);
    expect(run.request.cwd).toBe("/work");
    expect(run.request.env).toEqual(["X=1"]);
  });

  it("`-e NAME` copies NAME from the environment and drops it when unset, as docker does", () => {
    const env = { FOO: "bar" };
    const { command: c } = parse("run -e FOO -e MISSING busybox true", env);
    expect(c.kind === "run" && c.request.env).toEqual(["FOO=bar"]);
  });

  it("create takes the same flags but not -d", () => {
    const create = command("create --name x --ipc shareable busybox top", "create");
    expect(create.request.name).toBe("x");
    expect(create.request.host_config.ipc_mode).toBe("shareable");
    expect(usageError("create -d busybox").message).toContain("unknown shorthand flag: 'd'");
  });

  it("refuses what docker refuses: unknown flags, a missing value, no image, relative paths", () => {
    expect(usageError("run --bogus busybox").message).toBe("unknown flag: --bogus");
    expect(usageError("run -x busybox").message).toContain("unknown shorthand flag: 'x'");
    expect(usageError("run --name").message).toBe("flag needs an argument: --name");
    expect(usageError("run -d").message).toContain("requires an IMAGE or --rootfs DIR");
    expect(usageError("run --rootfs rel/dir sh").message).toContain("absolute");
    expect(usageError("run -w rel busybox").message).toContain("absolute");
    expect(usageError("run -e =x busybox").message).toContain("invalid environment variable");
    expect(usageError("run --rm=maybe busybox").message).toContain("expected true or false");
    expect(usageError("run -v relative:/x busybox").command).toBe("run");
  });

  it("says plainly that -i/-t (interactive) is not supported", () => {
    expect(usageError("run -it busybox sh").message).toContain("interactive mode (-i, -t) is not supported");
    expect(usageError("exec -t web sh").message).toContain("interactive mode");
    expect(usageError("run --tty busybox sh").message).toContain("interactive mode");
  });

  it("accepts --flag=false for booleans", () => {
    expect(command("run --rm=false --read-only=true busybox", "run").request.host_config).toMatchObject({
      auto_remove: false,
      readonly_rootfs: true,
    });
  });
});

describe("-v SRC:DST[:OPTIONS]", () => {
  it("reads the forms docker reads for host binds", () => {
    expect(parseVolumeSpec("/a:/b")).toEqual({ source: "/a", target: "/b", readonly: false, readonly_mode: "" });
    expect(parseVolumeSpec("/a:/b:ro")).toEqual({ source: "/a", target: "/b", readonly: true, readonly_mode: "" });
    expect(parseVolumeSpec("/a:/b:rw")).toEqual({ source: "/a", target: "/b", readonly: false, readonly_mode: "" });
    expect(parseVolumeSpec("/a:/b:rro")).toEqual({ source: "/a", target: "/b", readonly: true, readonly_mode: "recursive" });
  });

  it.each([
    ["/a", "expected SRC:DST"],
    ["/a:/b:ro:x", "expected SRC:DST"],
    ["vol:/b", "absolute host path"],
    ["/a:b", "destination must be an absolute path"],
    ["/a:/b:zz", 'unknown option "zz"'],
    ["/a:/b:ro,rw", "rw conflicts with ro"],
    ["/a:/b:ro,ro", "given twice"],
  ])("refuses %s", (spec, why) => {
    expect(() => parseVolumeSpec(spec)).toThrow(why);
  });
});

describe("lifecycle commands", () => {
  it("start [-a]", () => {
    expect(command("start a b", "start")).toEqual({ kind: "start", attach: false, checkpoint: "", host: "", containers: ["a", "b"] });
    expect(command("start --checkpoint cp1 a", "start")).toMatchObject({ checkpoint: "cp1", containers: ["a"] });
    expect(command("start --checkpoint cp1 --host h2 a", "start")).toMatchObject({ checkpoint: "cp1", host: "h2", containers: ["a"] });
    expect(command("start -a a", "start").attach).toBe(true);
    expect(usageError("start -a a b").message).toContain("multiple containers");
    expect(usageError("start").message).toContain("requires at least 1 argument");
  });

  it("stop [-t N], with the flag anywhere (docker intersperses flags here)", () => {
    expect(command("stop -t 3 a", "stop")).toEqual({ kind: "stop", timeoutSeconds: 3, containers: ["a"] });
    expect(command("stop a --time=0", "stop").timeoutSeconds).toBe(0);
    expect(command("stop a", "stop").timeoutSeconds).toBeUndefined();
    expect(usageError("stop -t soon a").message).toContain("whole number");
  });

  it("kill [-s SIG], rm [-f], pause, unpause, wait, inspect", () => {
    expect(command("kill -s TERM a", "kill")).toEqual({ kind: "kill", signal: "TERM", containers: ["a"] });
    expect(command("kill a", "kill").signal).toBe("");
    expect(command("rm -f a b", "rm")).toEqual({ kind: "rm", force: true, containers: ["a", "b"] });
    expect(command("rm a", "rm").force).toBe(false);
    expect(command("pause a", "pause").containers).toEqual(["a"]);
    expect(command("unpause a", "unpause").containers).toEqual(["a"]);
    expect(command("wait a b", "wait").containers).toEqual(["a", "b"]);
    expect(command("inspect a b", "inspect").containers).toEqual(["a", "b"]);
    expect(command("inspect a", "inspect").template).toBeUndefined();
    expect(command("inspect --format json a", "inspect").template).toBeUndefined();
    expect(command(["inspect", "-f", "{{.State.Pid}} {{json .HostConfig}}", "a"], "inspect").template).toBe("{{.State.Pid}} {{json .HostConfig}}");
    expect(usageError("inspect --format xml a").message).toContain("use json or a template");
    expect(usageError(["inspect", "-f", "{{if .State.Running}}", "a"]).message).toContain("unsupported action");
  });

  it("restart [-t N], rename OLD NEW, top C [ps OPTIONS]", () => {
    expect(command("restart -t 3 a b", "restart")).toEqual({ kind: "restart", timeoutSeconds: 3, containers: ["a", "b"] });
    expect(command("restart a", "restart").timeoutSeconds).toBeUndefined();
    expect(command("rename web web2", "rename")).toEqual({ kind: "rename", container: "web", newName: "web2" });
    expect(usageError("rename web").message).toBe(`"shoal rename" requires exactly 2 arguments.`);
    expect(usageError(["rename", "web", ""]).message).toBe("Neither old nor new names may be empty");
    expect(command("top web", "top")).toEqual({ kind: "top", container: "web", psArgs: "" });
    expect(command("top web -o pid,comm", "top")).toEqual({ kind: "top", container: "web", psArgs: "-o pid,comm" });
    expect(command("top web aux", "top").psArgs).toBe("aux");
    expect(usageError("top").message).toContain("requires at least 1 argument");
  });

  it("exit codes as docker's: 125 for a flag, 1 for the arguments or the command", () => {
    expect(usageError("stop -t soon a").exitCode).toBe(125);
    expect(usageError("ps --bogus").exitCode).toBe(125);
    expect(usageError("run --bogus busybox").exitCode).toBe(125);
    expect(usageError("stop").exitCode).toBe(1);
    expect(usageError("run").exitCode).toBe(1);
    expect(usageError("logs a b").exitCode).toBe(1);
    expect(usageError("rename a").exitCode).toBe(1);
    expect(usageError("bogus").exitCode).toBe(1);
  });

  it("exec stops flags at the container; the rest is the command", () => {
    expect(command("exec -e A=1 -w /tmp web ls -la /dev/shm", "exec")).toEqual({
      kind: "exec",
      container: "web",
      args: ["ls", "-la", "/dev/shm"],
      env: ["A=1"],
      cwd: "/tmp",
    });
    expect(usageError("exec web").message).toContain("requires at least 2 arguments");
  });

  it("logs [--tail N|all]", () => {
    expect(command("logs --tail 5 web", "logs")).toEqual({ kind: "logs", container: "web", tail: 5, follow: false });
    expect(command("logs -f -n 2 web", "logs")).toMatchObject({ tail: 2, follow: true });
    expect(command("logs -n all web", "logs").tail).toBe(0);
    expect(command("logs web", "logs").tail).toBe(0);
    expect(usageError("logs --tail -1 web").message).toContain("whole number");
    expect(usageError("logs a b").message).toContain("exactly 1 argument");
  });
});

describe("ps, hosts, events, config", () => {
  it("ps [-a] [-q] [--filter k=v] [--format json]", () => {
    expect(command("ps", "ps")).toEqual({ kind: "ps", all: false, quiet: false, noTrunc: false, filters: {}, format: "table", template: undefined });
    expect(command("ps --no-trunc -q", "ps")).toMatchObject({ noTrunc: true, quiet: true });
    expect(command(["ps", "--format", "{{.ID}}\t{{.Names}}"], "ps").template).toBe("{{.ID}}\t{{.Names}}");
    expect(command("ps -aq --filter status=exited -f name=web --format json", "ps")).toEqual({
      kind: "ps",
      all: true,
      quiet: true,
      noTrunc: false,
      filters: { status: "exited", name: "web" },
      format: "json",
      template: undefined,
    });
    expect(usageError("ps --filter name").message).toContain("expected name=value");
    expect(usageError("ps -f name=a -f name=b").message).toContain("given twice");
    expect(usageError("ps --format yaml").message).toContain("use table, json or a template");
    expect(usageError("ps --format {{.ID").message).toContain("unclosed action");
    expect(usageError("ps extra").message).toContain("accepts no arguments");
  });

  it("hosts [--format json]", () => {
    expect(command("hosts --format json", "hosts").format).toBe("json");
  });

  it("host drain HOST, host activate HOST", () => {
    expect(command("host drain h2", "host-drain")).toEqual({ kind: "host-drain", host: "h2", checkpoint: false });
    expect(command("host drain --checkpoint h2", "host-drain")).toEqual({ kind: "host-drain", host: "h2", checkpoint: true });
    expect(command("host activate h2", "host-activate")).toEqual({ kind: "host-activate", host: "h2" });
    expect(usageError("host drain").message).toContain("requires");
    expect(usageError("host drain a b").message).toContain("exactly 1 argument");
    expect(usageError("host").message).toContain("drain or activate");
    expect(usageError("host move h1").message).toContain("'move' is not a host subcommand");
  });

  it("events groups repeated filter keys (ORed) and reads --since/--until/--cursor", () => {
    const events = command("events --since 10m --until 2026-11-23T12:30:00Z -f type=ContainerStarted -f type=ContainerExited -f host=h1 --format json", "events");
    expect(events.since).toEqual(new Date("2026-11-23T11:50:00Z"));
    expect(events.until).toEqual(new Date("2026-11-23T12:30:00Z"));
    expect(events.filters).toEqual([
      { key: "type", values: ["ContainerStarted", "ContainerExited"] },
      { key: "host", values: ["h1"] },
    ]);
    expect(events.format).toBe("json");
    expect(command("events --cursor 42", "events").cursor).toBe("42");
    expect(usageError("events --cursor 42 --since 1m").message).toContain("exclusive");
    expect(usageError("events --since yesterday").message).toContain("invalid value");
  });

  it("config show|set|reload", () => {
    expect(command("config show", "config-show").format).toBe("table");
    expect(command("config show --format json", "config-show").format).toBe("json");
    expect(command("config set experimental=true default-ipc-mode=shareable", "config-set").assignments).toEqual([
      "experimental=true",
      "default-ipc-mode=shareable",
    ]);
    expect(command("config reload --file /etc/shoal/daemon.json", "config-reload").file).toBe("/etc/shoal/daemon.json");
    expect(usageError("config set experimental").message).toContain("KEY=VALUE");
    expect(usageError("config set").message).toContain("requires at least 1 argument");
    expect(usageError("config reload").message).toContain("--file");
    expect(usageError("config").message).toContain("show, set or reload");
    expect(usageError("config drop").message).toContain("not a config subcommand");
  });
});

describe("global", () => {
  it("takes the address from --addr (before or after the command), else SHOAL_ADDR, else the default", () => {
    expect(parse("ps").addr).toBe("127.0.0.1:7420");
    expect(parse("ps", { SHOAL_ADDR: "10.0.0.1:7420" }).addr).toBe("10.0.0.1:7420");
    expect(parseCommandLine(["--addr", "h:1", "ps"], { env: { SHOAL_ADDR: "x:2" }, now: NOW }).addr).toBe("h:1");
    expect(parse("ps --addr=h:9").addr).toBe("h:9");
    expect(parse("--addr tcp://h:3 ps").addr).toBe("h:3");
  });

  it("--version, -v, version, --help and COMMAND --help need no api", () => {
    expect(parse("--version").command).toEqual({ kind: "version" });
    expect(parse("-v").command).toEqual({ kind: "version" });
    expect(parse("version").command).toEqual({ kind: "version" });
    expect(parse("--help").command).toEqual({ kind: "help", topic: undefined });
    expect(parse("run --help").command).toEqual({ kind: "help", topic: "run" });
    expect(parse("stop --help").command).toEqual({ kind: "help", topic: "stop" });
    expect(parse("config set --help").command).toEqual({ kind: "help", topic: "config set" });
  });

  it("refuses an unknown command; no command at all prints the help", () => {
    expect(usageError("frobnicate").message).toContain("'frobnicate' is not a shoal command");
    expect(parse([]).command).toEqual({ kind: "help", topic: undefined });
  });
});

// pflag's details that argument-parsing libraries read differently (commander, yargs-parser,
// mri, arg, cac, citty were tried against these; see the README): each is docker's behaviour.
describe("docker's flag syntax, detail by detail", () => {
  it("takes `-f=value` for a shorthand flag, dropping the `=` (a separate `=x` stays as given)", () => {
    expect(command("exec -w=/srv -e=A=1 web ls", "exec")).toMatchObject({ cwd: "/srv", env: ["A=1"] });
    expect(command("kill -s=KILL a", "kill").signal).toBe("KILL");
    expect(command("run -v=/a:/b:ro busybox", "run").request.host_config.mounts).toEqual([
      { source: "/a", target: "/b", readonly: true, readonly_mode: "" },
    ]);
  });

  it("reads a dash and digits as a shorthand flag, never as a positional", () => {
    for (const line of ["stop -5 a", "rm -1", "run -5", "top -1"]) {
      const err = usageError(line);
      expect(err.message).toMatch(/^unknown shorthand flag: '\d' in -\d$/);
      expect(err.exitCode).toBe(125);
    }
  });

  it("names the whole group when one letter of it is unknown", () => {
    expect(usageError("run -dx busybox").message).toBe("unknown shorthand flag: 'x' in -dx");
    expect(usageError("ps -aqx").message).toBe("unknown shorthand flag: 'x' in -aqx");
  });

  it("refuses the first bad flag, in order", () => {
    expect(usageError("ps --bogus --format").message).toBe("unknown flag: --bogus");
    expect(usageError("stop --workdir /x --time").message).toBe("unknown flag: --workdir");
  });

  it("lets the last of a repeated boolean win, and has no `--no-` negation", () => {
    expect(command("ps -a --all=false", "ps").all).toBe(false);
    expect(command("ps --all=false -a", "ps").all).toBe(true);
    expect(command("ps --no-trunc", "ps").noTrunc).toBe(true);
    expect(command("ps --no-trunc=false", "ps").noTrunc).toBe(false);
    expect(usageError("ps --no-all").message).toBe("unknown flag: --no-all");
  });

  it("takes the next argument as a flag's value even when it looks like a flag", () => {
    expect(command("run --name -x busybox", "run").request).toMatchObject({ name: "-x", image: "busybox" });
    expect(command("logs -n 3 -- web", "logs")).toMatchObject({ container: "web", tail: 3 });
    expect(command("stop --timeout 4 a", "stop").timeoutSeconds).toBe(4);
  });

  it("keeps `--` and `-` as given where they are positionals", () => {
    expect(command("run busybox -- x", "run").request.args).toEqual(["--", "x"]);
    expect(command("stop a -- -t 3", "stop").containers).toEqual(["a", "-t", "3"]);
    expect(command("stop -", "stop").containers).toEqual(["-"]);
  });
});

describe("parseTimeArg", () => {
  it("reads RFC 3339, Unix seconds and Go durations", () => {
    expect(parseTimeArg("2026-11-23T10:00:00.5Z", NOW, "--since")).toEqual(new Date("2026-11-23T10:00:00.500Z"));
    expect(parseTimeArg("1763900000", NOW, "--since")).toEqual(new Date(1763900000 * 1000));
    expect(parseTimeArg("1763900000.25", NOW, "--since")).toEqual(new Date(1763900000250));
    expect(parseTimeArg("1h30m", NOW, "--since")).toEqual(new Date(NOW.getTime() - 90 * 60_000));
    expect(parseTimeArg("1.5s", NOW, "--since")).toEqual(new Date(NOW.getTime() - 1500));
    expect(() => parseTimeArg("2026-13-45", NOW, "--since")).toThrow(UsageError);
    expect(() => parseTimeArg("10x", NOW, "--since")).toThrow(UsageError);
  });
});

describe("checkpoint commands (docker checkpoint's shape)", () => {
  it("create, ls, rm, export, import", () => {
    expect(command("checkpoint create web cp1", "checkpoint-create")).toEqual({ kind: "checkpoint-create", container: "web", name: "cp1", leaveRunning: false, group: false });
    expect(command("checkpoint create --leave-running --group own cp1", "checkpoint-create")).toMatchObject({ leaveRunning: true, group: true });
    expect(command("checkpoint ls web", "checkpoint-ls")).toEqual({ kind: "checkpoint-ls", container: "web", format: "table" });
    expect(command("checkpoint list web --format json", "checkpoint-ls")).toMatchObject({ format: "json" });
    expect(command("checkpoint rm web cp1", "checkpoint-rm")).toEqual({ kind: "checkpoint-rm", container: "web", name: "cp1" });
    expect(command("checkpoint export web cp1 -o /tmp/x.tar", "checkpoint-export")).toEqual({ kind: "checkpoint-export", container: "web", name: "cp1", output: "/tmp/x.tar" });
    expect(command("checkpoint import /tmp/x.tar", "checkpoint-import")).toEqual({ kind: "checkpoint-import", file: "/tmp/x.tar" });
  });

  it("refuses a wrong number of arguments, an unknown subcommand and an export without -o", () => {
    expect(usageError("checkpoint create web").message).toBe(`"shoal checkpoint create" requires exactly 2 arguments (CONTAINER CHECKPOINT).`);
    expect(usageError("checkpoint frob").message).toBe("'frob' is not a checkpoint subcommand.");
    expect(usageError("checkpoint").message).toBe("a checkpoint subcommand is required: create, ls, rm, export or import.");
    expect(usageError("checkpoint export web cp1").message).toBe(`"shoal checkpoint export" requires -o FILE`);
    expect(usageError("checkpoint create --bogus web cp1").message).toBe("unknown flag: --bogus");
  });
});
