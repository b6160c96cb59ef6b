import type { ContainerInfo, CreateContainerRequest, HostInfo, UnaryMethods } from "./api-types";
import { familiarOf, formatImages, imageInspectObject, login, logout, pull } from "./image-commands";
import {
  dateToTimestamp,
  eventJsonLine,
  formatEventLine,
  formatHostsTable,
  checkpointJsonLine,
  formatCheckpointsTable,
  formatInspect,
  formatPsTable,
  formatTopTable,
  hostJsonLine,
  psJsonLine,
  psObject,
  shortId,
  toDockerInspect,
} from "./format-output";
import { DaemonError } from "./daemon-error";
import { compileTemplate, TemplateError } from "./format-template";
import type { CompiledTemplate } from "./format-template";
import { parseCommandLine, UsageError } from "./parse-command-line";
import type { CliCommand } from "./parse-command-line";
import type { ShoalApi } from "./shoal-api-client";
import { usageOf } from "./usage";
import { CLI_VERSION } from "./version";

/** `run`'s exit code when Shoal refuses or fails the request, and any command's for a bad flag (docker's 125). */
export const EXIT_REFUSED = 125;
/** Every other command's exit code for a refused or failed request (docker's 1). */
export const EXIT_FAILED = 1;

/** Docker's code for a request the daemon refused or failed: 125 for `run`, 1 for any other command. */
export function failureExitCode(command: CliCommand["kind"]): number {
  return command === "run" ? EXIT_REFUSED : EXIT_FAILED;
}

export interface CliIo {
  stdout: { write(chunk: string | Uint8Array): unknown };
  stderr: { write(chunk: string | Uint8Array): unknown };
  env: Readonly<Record<string, string | undefined>>;
  now(): Date;
  readFile(path: string): Promise<string>;
  /** Opens the api client; the default loads gRPC only when a command needs it. */
  connect?(addr: string): Promise<ShoalApi>;
  /**
   * Registers `listener` for SIGINT/SIGTERM/SIGHUP while a container is attached (docker's
   * sig-proxy: the signal goes to the container, the CLI keeps waiting); returns the
   * unregister function. Without it, signals keep their default effect on the CLI.
   */
  onSignal?(listener: (signal: string) => void): () => void;
}

function isDaemonError(err: unknown): err is DaemonError {
  return err instanceof DaemonError;
}

/**
 * Runs one `shoal` invocation and returns its exit code, as docker's CLI picks it: 0;
 * for a refused or failed request 125 from `run` and 1 from any other command (a failed
 * start too, except `run`'s 126/127 when the container's command could not be started);
 * 125 for a bad flag, 1 for a wrong number of arguments or an unknown command; otherwise
 * the container's own code for `run` (without -d), `start -a` and `exec`. Nothing is thrown
 * for a failure the user can act on; messages go to stderr without stacks.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseCommandLine(argv, { env: io.env, now: io.now() });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    const see = err.command === undefined ? "shoal --help" : `shoal ${err.command} --help`;
    io.stderr.write(`shoal: ${err.message}\nSee '${see}'.\n`);
    return err.exitCode;
  }
  const { addr, command } = parsed;
  if (command.kind === "version") {
    io.stdout.write(`shoal version ${CLI_VERSION}\n`);
    return 0;
  }
  if (command.kind === "help") {
    io.stdout.write(`${usageOf(command.topic)}\n`);
    return 0;
  }
  if (command.kind === "login" || command.kind === "logout") {
    try {
      if (command.kind === "logout") return await logout(io, command.server);
      const password = command.password ?? (await io.readFile("/dev/stdin")).replace(/\r?\n$/, "");
      return await login(io, command.server, command.username, password);
    } catch (err) {
      io.stderr.write(`shoal: ${(err as Error).message}\n`);
      return EXIT_FAILED;
    }
  }
  let configJson: string | undefined;
  if (command.kind === "config-reload") {
    try {
      configJson = await io.readFile(command.file);
    } catch (err) {
      io.stderr.write(`shoal: cannot read ${command.file}: ${(err as Error).message}\n`);
      return EXIT_FAILED;
    }
  }
  const connect = io.connect ?? (async (a: string) => (await import("./shoal-api-client")).connectShoalApi(a));
  let api: ShoalApi;
  try {
    api = await connect(addr);
  } catch (err) {
    io.stderr.write(`shoal: cannot use api address "${addr}": ${(err as Error).message}\n`);
    return failureExitCode(command.kind);
  }
  const out = new Output(io, addr, failureExitCode(command.kind));
  try {
    return await execute(api, command, out, configJson);
  } catch (err) {
    if (isDaemonError(err)) return out.daemonError(err);
    throw err;
  } finally {
    api.close();
  }
}

class Output {
  constructor(
    readonly io: CliIo,
    readonly addr: string,
    /** The command's exit code for a refused or failed request (failureExitCode). */
    readonly failureCode: number,
  ) {}
  line(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }
  /** Prints a failed request docker's way and returns the command's failure code. */
  daemonError(err: DaemonError): number {
    if (err.unreachable) {
      const reason = /\b(E[A-Z]{3,})\b/.exec(err.message)?.[1];
      this.io.stderr.write(`shoal: Cannot connect to the Shoal api at ${this.addr}${reason ? ` (${reason})` : ""}. Is it running?\n`);
    } else {
      this.io.stderr.write(`shoal: Error response from daemon: ${err.message}\n`);
    }
    return this.failureCode;
  }
}

/** docker run's rule for a failed start: 126 and 127 pass through, anything else is 125. */
export function startFailureExitCode(exitCode: number): number {
  return exitCode === 126 || exitCode === 127 ? exitCode : EXIT_REFUSED;
}

async function execute(api: ShoalApi, command: CliCommand, out: Output, configJson: string | undefined): Promise<number> {
  switch (command.kind) {
    case "run":
    case "create": {
      const created = await createPullingIfMissing(api, command.request, out);
      if (command.kind === "create") {
        out.line(created.id);
        return 0;
      }
      if (command.detach) {
        const started = await api.call("Containers/StartContainer", { container: created.id });
        if (started.failed) {
          out.io.stderr.write(`shoal: Error response from daemon: ${started.error}\n`);
          return startFailureExitCode(started.exit_code);
        }
        out.line(created.id);
        return 0;
      }
      return startAttached(api, created.id, out, startFailureExitCode);
    }
    case "start": {
      if (command.attach) return startAttached(api, command.containers[0]!, out, () => EXIT_FAILED, command.checkpoint);
      if (command.checkpoint !== "") {
        // docker start --checkpoint: one container, nothing printed on success.
        if (command.containers.length > 1) {
          // docker prints this one bare.
          out.io.stderr.write("you cannot restore multiple containers at once\n");
          return EXIT_FAILED;
        }
        const started = await api.call("Containers/StartContainer", {
          container: command.containers[0]!,
          checkpoint: command.checkpoint,
          ...(command.host !== "" ? { host: command.host } : {}),
        });
        if (!started.failed) return 0;
        out.io.stderr.write(`shoal: Error response from daemon: ${started.error}\n`);
        return startFailureExitCode(started.exit_code);
      }
      const failed: string[] = [];
      await forEach(command.containers, out, async (container) => {
        const started = await api.call("Containers/StartContainer", { container, ...(command.host !== "" ? { host: command.host } : {}) });
        if (started.failed) out.io.stderr.write(`shoal: Error response from daemon: ${started.error}\n`);
        else out.line(container);
        return !started.failed;
      }, (container) => failed.push(container));
      if (failed.length === 0) return 0;
      // docker's closing line for `start`, after the errors of each container.
      out.io.stderr.write(`shoal: Error: failed to start containers: ${failed.join(", ")}\n`);
      return EXIT_FAILED;
    }
    case "restart":
      return forEach(command.containers, out, async (container) => {
        const request = command.timeoutSeconds === undefined ? { container } : { container, timeout_seconds: command.timeoutSeconds };
        const restarted = await api.call("Containers/RestartContainer", request);
        if (restarted.failed) {
          out.io.stderr.write(`shoal: Error response from daemon: Cannot restart container ${container}: ${restarted.error}\n`);
          return false;
        }
        out.line(container);
        return true;
      });
    case "rename":
      try {
        await api.call("Containers/RenameContainer", { container: command.container, new_name: command.newName });
      } catch (err) {
        if (!isDaemonError(err)) throw err;
        out.daemonError(err);
        // docker's closing line for `rename`.
        out.io.stderr.write(`shoal: Error: failed to rename container named ${command.container}\n`);
        return EXIT_FAILED;
      }
      return 0;
    case "top": {
      const top = await api.call("Containers/TopContainer", { container: command.container, ps_args: command.psArgs });
      out.io.stdout.write(formatTopTable(top.titles, top.processes.map((p) => p.fields)));
      return 0;
    }
    case "stop":
      return forEach(command.containers, out, async (container) => {
        const request = command.timeoutSeconds === undefined ? { container } : { container, timeout_seconds: command.timeoutSeconds };
        await api.call("Containers/StopContainer", request);
        out.line(container);
        return true;
      });
    case "kill":
      return forEach(command.containers, out, async (container) => {
        await api.call("Containers/KillContainer", { container, signal: command.signal });
        out.line(container);
        return true;
      });
    case "rm":
      return forEach(command.containers, out, async (container) => {
        await api.call("Containers/RemoveContainer", { container, force: command.force });
        out.line(container);
        return true;
      });
    case "pause":
    case "unpause": {
      const method = command.kind === "pause" ? "Containers/PauseContainer" : "Containers/UnpauseContainer";
      return forEach(command.containers, out, async (container) => {
        await api.call(method, { container });
        out.line(container);
        return true;
      });
    }
    case "wait":
      return forEach(command.containers, out, async (container) => {
        const result = await api.call("Containers/WaitContainer", { container });
        if (result.error !== "") out.io.stderr.write(`shoal: ${container}: ${result.error}\n`);
        out.line(String(result.exit_code));
        return true;
      });
    case "inspect": {
      const found: ContainerInfo[] = [];
      const errors: DaemonError[] = [];
      for (const container of command.containers) {
        try {
          const response = await api.call("Containers/InspectContainer", { container });
          if (response.container !== null) found.push(response.container);
        } catch (err) {
          if (!isDaemonError(err)) throw err;
          errors.push(err);
        }
      }
      if (command.template === undefined) {
        out.io.stdout.write(formatInspect(found));
      } else {
        const render = compileTemplate(command.template);
        for (const c of found) {
          const text = renderOrReport(render, toDockerInspect(c), out);
          if (text === undefined) return EXIT_FAILED;
          out.line(text);
        }
      }
      for (const err of errors) out.daemonError(err);
      return errors.length === 0 ? 0 : out.failureCode;
    }
    case "exec": {
      const result = await api.call("Containers/ExecInContainer", {
        container: command.container,
        args: command.args,
        env: command.env,
        cwd: command.cwd,
      });
      if (result.stdout.length > 0) out.io.stdout.write(result.stdout);
      if (result.stderr.length > 0) out.io.stderr.write(result.stderr);
      return result.exit_code;
    }
    case "logs": {
      if (command.follow) {
        // Until the container stops; Ctrl-C stops following (signals are not proxied here).
        const stopped = api.call("Containers/WaitContainer", { container: command.container });
        stopped.catch(() => undefined);
        await followOutput(api, command.container, stopped, out, { fromTailLines: command.tail });
        return 0;
      }
      const logs = await api.call("Containers/ContainerLogs", { container: command.container, tail: command.tail });
      if (logs.output.length > 0) out.io.stdout.write(logs.output);
      return 0;
    }
    case "ps": {
      const containers = await listAll(api, command.all, command.filters);
      const now = out.io.now();
      const options = { noTrunc: command.noTrunc };
      if (command.quiet) {
        for (const c of containers) out.line(command.noTrunc ? c.id : shortId(c.id));
      } else if (command.template !== undefined) {
        const render = compileTemplate(command.template);
        for (const c of containers) {
          const text = renderOrReport(render, psObject(c, now, options), out);
          if (text === undefined) return EXIT_FAILED;
          out.line(text);
        }
      } else if (command.format === "json") {
        for (const c of containers) out.line(psJsonLine(c, now, options));
      } else {
        out.io.stdout.write(formatPsTable(containers, now, options));
      }
      return 0;
    }
    case "events": {
      const subscription = api.subscribe({
        filters: command.filters,
        ...(command.cursor === undefined ? {} : { since_cursor: command.cursor }),
        ...(command.since === undefined ? {} : { since_time: dateToTimestamp(command.since) }),
        ...(command.until === undefined ? {} : { until_time: dateToTimestamp(command.until) }),
      });
      for await (const event of subscription.events) {
        out.line(command.format === "json" ? eventJsonLine(event) : formatEventLine(event));
      }
      return 0;
    }
    case "hosts": {
      const { hosts } = await api.call("Hosts/ListHosts", {});
      if (command.format === "json") for (const h of hosts as HostInfo[]) out.line(hostJsonLine(h));
      else out.io.stdout.write(formatHostsTable(hosts, out.io.now()));
      return 0;
    }
    case "host-drain": {
      const r = await api.call("Hosts/DrainHost", { host: command.host, ...(command.checkpoint ? { checkpoint: true } : {}) });
      for (const id of r.moved) out.line(id);
      for (const f of r.failures) out.io.stderr.write(`shoal: Error: could not move ${f.container}: ${f.error}\n`);
      return r.failures.length > 0 ? 1 : 0;
    }
    case "checkpoint-create": {
      const r = await api.call("Checkpoints/CreateCheckpoint", {
        container: command.container,
        name: command.name,
        leave_running: command.leaveRunning,
        group: command.group,
      });
      out.line(r.checkpoint?.name ?? command.name);
      return 0;
    }
    case "checkpoint-ls": {
      const { checkpoints } = await api.call("Checkpoints/ListCheckpoints", { container: command.container });
      if (command.format === "json") for (const c of checkpoints) out.line(checkpointJsonLine(c));
      else out.io.stdout.write(formatCheckpointsTable(checkpoints));
      return 0;
    }
    case "checkpoint-rm":
      await api.call("Checkpoints/RemoveCheckpoint", { container: command.container, name: command.name });
      return 0;
    case "checkpoint-export": {
      const { createWriteStream } = await import("node:fs");
      const { rename, rm } = await import("node:fs/promises");
      const { pipeline } = await import("node:stream/promises");
      const { Readable } = await import("node:stream");
      // Written beside the target and renamed into place: a failed export leaves no partial file.
      const partial = `${command.output}.partial`;
      try {
        await pipeline(Readable.from(api.exportCheckpoint({ container: command.container, name: command.name })), createWriteStream(partial));
        await rename(partial, command.output);
      } catch (err) {
        await rm(partial, { force: true });
        throw err;
      }
      return 0;
    }
    case "checkpoint-import": {
      const { createReadStream } = await import("node:fs");
      const r = await api.importCheckpoint(createReadStream(command.file, { highWaterMark: 1024 * 1024 }));
      out.line(`${r.checkpoint?.container_name ?? ""}/${r.checkpoint?.name ?? ""}`);
      return 0;
    }
    case "host-activate":
      await api.call("Hosts/ActivateHost", { host: command.host });
      out.line(command.host);
      return 0;
    case "config-show": {
      const config = await api.call("Config/ShowConfig", {});
      const parsed: unknown = JSON.parse(config.config_json === "" ? "{}" : config.config_json);
      if (command.format === "json") out.line(JSON.stringify({ version: Number(config.version), config: parsed }));
      else out.line(JSON.stringify(parsed, null, 2));
      return 0;
    }
    case "config-set":
    case "config-reload": {
      const config =
        command.kind === "config-set"
          ? await api.call("Config/SetConfig", { assignments: command.assignments })
          : await api.call("Config/ReloadConfig", { config_json: configJson ?? "" });
      out.line(config.changed ? `config version ${config.version}` : `config unchanged (version ${config.version})`);
      return 0;
    }
    case "pull":
      await pull(api, out.io, command);
      return 0;
    case "images": {
      const { images } = await api.call("Images/ListImages", { host: command.host, filters: command.filters });
      if (command.template !== undefined) {
        const render = compileTemplate(command.template);
        for (const image of images) {
          const text = renderOrReport(render, imageInspectObject(image), out);
          if (text === undefined) return EXIT_FAILED;
          out.line(text);
        }
        return 0;
      }
      out.io.stdout.write(formatImages(images, out.io.now(), command));
      return 0;
    }
    case "rmi": {
      let failed = false;
      for (const image of command.images) {
        try {
          const r = await api.call("Images/RemoveImage", { image, force: command.force });
          for (const u of r.untagged) out.line(`Untagged: ${u}`);
          for (const d of r.deleted) out.line(`Deleted: ${d}`);
        } catch (err) {
          if (!isDaemonError(err)) throw err;
          out.daemonError(err);
          failed = true;
        }
      }
      return failed ? EXIT_FAILED : 0;
    }
    case "image-inspect": {
      const found: Record<string, unknown>[] = [];
      let failed = false;
      for (const name of command.images) {
        try {
          const { image } = await api.call("Images/InspectImage", { image: name });
          if (image !== null) found.push(imageInspectObject(image));
        } catch (err) {
          if (!isDaemonError(err) || err.code !== "NOT_FOUND") throw err;
          out.io.stderr.write(`Error: No such image: ${name}\n`);
          failed = true;
        }
      }
      if (command.template !== undefined) {
        const render = compileTemplate(command.template);
        for (const o of found) {
          const text = renderOrReport(render, o, out);
          if (text === undefined) return EXIT_FAILED;
          out.line(text);
        }
      } else {
        out.line(JSON.stringify(found, null, 4));
      }
      return failed ? EXIT_FAILED : 0;
    }
    case "tag":
      await api.call("Images/TagImage", { source: command.source, target: command.target });
      return 0;
    case "load": {
      const { createReadStream } = await import("node:fs");
      const input = command.input === "" ? process.stdin : createReadStream(command.input, { highWaterMark: 1024 * 1024 });
      let r;
      try {
        r = await api.loadImage(input as AsyncIterable<Uint8Array>, command.host);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          out.io.stderr.write(`shoal: open ${command.input}: no such file or directory\n`);
          return EXIT_FAILED;
        }
        throw err;
      }
      if (!command.quiet) for (const line of r.loaded) out.line(line);
      return 0;
    }
    case "save": {
      if (command.output === "" && (process.stdout as { isTTY?: boolean }).isTTY === true) {
        out.io.stderr.write("shoal: cowardly refusing to save to a terminal. Use the -o flag or redirect\n");
        return EXIT_FAILED;
      }
      const { createWriteStream } = await import("node:fs");
      const { rename, rm } = await import("node:fs/promises");
      const { pipeline } = await import("node:stream/promises");
      const { Readable } = await import("node:stream");
      if (command.output === "") {
        for await (const chunk of api.saveImage({ images: command.images })) out.io.stdout.write(chunk);
        return 0;
      }
      // Written beside the target and renamed into place: a failed save leaves no partial file.
      const partial = `${command.output}.partial`;
      try {
        await pipeline(Readable.from(api.saveImage({ images: command.images })), createWriteStream(partial));
        await rename(partial, command.output);
      } catch (err) {
        await rm(partial, { force: true });
        throw err;
      }
      return 0;
    }
    case "login":
    case "logout":
      // Handled before connecting (no api call).
      return 0;
    case "version":
    case "help":
      return 0;
  }
}

/**
 * CreateContainer; an image no host holds is pulled first, as Docker's CLI does: "Unable to
 * find image 'X' locally", the pull's progress on stderr, then the create again.
 */
async function createPullingIfMissing(api: ShoalApi, request: CreateContainerRequest, out: Output): Promise<{ id: string; name: string }> {
  try {
    return await api.call("Containers/CreateContainer", request);
  } catch (err) {
    if (!(isDaemonError(err) && err.code === "NOT_FOUND" && err.message.startsWith("No such image:") && request.image !== "")) throw err;
    out.io.stderr.write(`Unable to find image '${familiarOf(request.image)}' locally\n`);
    await pull(api, { ...out.io, stdout: out.io.stderr }, { reference: request.image, host: request.host, quiet: false });
    return api.call("Containers/CreateContainer", request);
  }
}

/** The rendered template, or undefined after printing why it could not be rendered. */
function renderOrReport(render: CompiledTemplate, value: unknown, out: Output): string | undefined {
  try {
    return render(value);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    out.io.stderr.write(`shoal: ${err.message}\n`);
    return undefined;
  }
}

/**
 * Runs `action` for every container, reporting each failure and going on (`onFailure`
 * hears of each); the command's failure code when any failed.
 */
async function forEach(
  containers: readonly string[],
  out: Output,
  action: (container: string) => Promise<boolean>,
  onFailure?: (container: string) => void,
): Promise<number> {
  let failed = false;
  for (const container of containers) {
    let ok: boolean;
    try {
      ok = await action(container);
    } catch (err) {
      if (!isDaemonError(err)) throw err;
      out.daemonError(err);
      ok = false;
    }
    if (!ok) {
      failed = true;
      onFailure?.(container);
    }
  }
  return failed ? out.failureCode : 0;
}

async function listAll(api: ShoalApi, all: boolean, filters: Record<string, string>): Promise<ContainerInfo[]> {
  const containers: ContainerInfo[] = [];
  let pageToken = "";
  const seen = new Set<string>();
  for (;;) {
    const page = await api.call("Containers/ListContainers", { all, filters, page_size: 0, page_token: pageToken });
    containers.push(...page.containers);
    if (page.next_page_token === "" || seen.has(page.next_page_token)) return containers;
    seen.add(page.next_page_token);
    pageToken = page.next_page_token;
  }
}

/**
 * `run` without -d and `start -a`, as `docker run` does it: the wait for the container's
 * next exit is sent before StartContainer, so an exit that comes at once, or a `--rm`
 * removal right after it, is never missed. A failed start is reported and its exit code
 * mapped by `failedStartCode` (`run`: 125/126/127; `start -a`: 1); otherwise the output is
 * printed and the container's exit code returned.
 */
async function startAttached(
  api: ShoalApi,
  container: string,
  out: Output,
  failedStartCode: (exitCode: number) => number,
  checkpoint = "",
): Promise<number> {
  const exited = api.call("Containers/WaitContainer", { container, condition: "next-exit" });
  // Only awaited after a successful start; a failure on a failed start is not news.
  exited.catch(() => undefined);
  const started = await api.call("Containers/StartContainer", { container, ...(checkpoint !== "" ? { checkpoint } : {}) });
  if (started.failed) {
    out.io.stderr.write(`shoal: Error response from daemon: ${started.error}\n`);
    return failedStartCode(started.exit_code);
  }
  return attachUntilExit(api, started.id !== "" ? started.id : container, exited, out);
}

/**
 * Waits (`exited`) for the container to stop while printing its output as it grows, then
 * prints the rest and returns its exit code. Signals the CLI receives meanwhile go to the
 * container.
 */
async function attachUntilExit(api: ShoalApi, id: string, exited: Promise<WaitResult>, out: Output): Promise<number> {
  const stopProxy = out.io.onSignal?.((signal) => {
    api.call("Containers/KillContainer", { container: id, signal }).catch((err: unknown) => {
      if (isDaemonError(err)) out.io.stderr.write(`shoal: could not send ${signal} to the container: ${err.message}\n`);
    });
  });
  let result: WaitResult;
  try {
    result = await followOutput(api, id, exited, out, { fromTailLines: undefined });
  } finally {
    stopProxy?.();
  }
  if (result.error !== "") out.io.stderr.write(`shoal: ${result.error}\n`);
  return result.exit_code;
}

type WaitResult = UnaryMethods["Containers/WaitContainer"][1];

/** Where the last `lines` lines of `output` start (0 when it has fewer). */
export function tailOffset(output: Uint8Array, lines: number): number {
  let end = output.length;
  if (end > 0 && output[end - 1] === 0x0a) end--;
  let seen = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (output[i] === 0x0a && ++seen === lines) return i + 1;
  }
  return 0;
}

/**
 * Prints the container's output as it grows until `exited` settles, then the rest, and
 * returns what `exited` resolved to. The output is polled (the api's logs are unary; first
 * after 50 ms, backing off to 1 s) and only new bytes are printed. With `fromTailLines`
 * (logs -f) the output so far is printed at once, its last N lines only when N > 0. A
 * container removed (--rm) before the last fetch keeps what was already printed.
 */
async function followOutput(
  api: ShoalApi,
  id: string,
  exited: Promise<WaitResult>,
  out: Output,
  options: { fromTailLines: number | undefined },
): Promise<WaitResult> {
  let printed = 0;
  const fetchOutput = async () => (await api.call("Containers/ContainerLogs", { container: id, tail: 0 })).output;
  const printNew = async (): Promise<void> => {
    const output = await fetchOutput();
    if (output.length > printed) {
      out.io.stdout.write(output.subarray(printed));
      printed = output.length;
    }
  };
  if (options.fromTailLines !== undefined) {
    const output = await fetchOutput();
    const from = options.fromTailLines > 0 ? tailOffset(output, options.fromTailLines) : 0;
    if (output.length > from) out.io.stdout.write(output.subarray(from));
    printed = output.length;
  }
  let done = false;
  const waiting = exited.finally(() => {
    done = true;
  });
  waiting.catch(() => undefined);
  let delayMs = 50;
  while (!done) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([waiting.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, delayMs)))]);
    clearTimeout(timer);
    if (done) break;
    await printNew().catch(() => undefined);
    delayMs = Math.min(delayMs * 2, 1000);
  }
  const result = await waiting;
  try {
    await printNew();
  } catch (err) {
    if (!isDaemonError(err) || err.code !== "NOT_FOUND") throw err;
  }
  return result;
}
