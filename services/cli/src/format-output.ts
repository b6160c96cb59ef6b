import type { CheckpointInfo, ContainerInfo, HostInfo, ShoalEvent, Timestamp } from "./api-types";

/**
 * How the CLI prints what the api returns. Pure: every function takes "now" when it
 * needs it, so the output is a function of its inputs.
 */

/** Docker's zero time, printed for a timestamp that was never set. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/**
 * Columns separated by at least three spaces, as docker's tabwriter prints them, each at
 * least `minWidth` wide with its padding; the last column is not padded.
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[], minWidth = 0): string {
  const widths = headers.map((h, i) => Math.max(minWidth, 3 + Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** `top`'s table as docker prints it: ps's titles and rows in columns at least 20 wide. */
export function formatTopTable(titles: readonly string[], processes: readonly (readonly string[])[]): string {
  return formatTable(titles, processes, 20);
}

export function timestampToMs(ts: Timestamp | null | undefined): number | undefined {
  if (ts === null || ts === undefined) return undefined;
  const seconds = Number(ts.seconds);
  if (seconds === 0 && ts.nanos === 0) return undefined;
  return seconds * 1000 + Math.floor(ts.nanos / 1e6);
}

export function dateToTimestamp(date: Date): Timestamp {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1e6 };
}

/** RFC 3339 with nanoseconds, trailing zeros trimmed (Go's RFC3339Nano, docker's inspect format); unset: ZERO_TIME. */
export function formatTimestamp(ts: Timestamp | null | undefined): string {
  if (ts === null || ts === undefined || (Number(ts.seconds) === 0 && ts.nanos === 0)) return ZERO_TIME;
  const base = new Date(Number(ts.seconds) * 1000).toISOString().slice(0, 19);
  const fraction = String(ts.nanos).padStart(9, "0").replace(/0+$/, "");
  return `${base}${fraction === "" ? "" : `.${fraction}`}Z`;
}

/** docker's (go-units) HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks"… */
export function humanDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 1) return "Less than a second";
  if (seconds === 1) return "1 second";
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.round(ms / 60_000);
  if (minutes === 1) return "About a minute";
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return "About an hour";
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** Binary units as docker prints memory: "64MiB", "1.5GiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = Number.isInteger(value) ? String(value) : value.toFixed(3).replace(/\.?0+$/, "");
  return `${shown}${units[unit]}`;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** The STATUS column of `ps`: "Up 5 minutes", "Up 2 hours (Paused)", "Exited (1) 3 seconds ago", "Restarting (1) 2 seconds ago", "Created"… */
export function containerStatusText(c: ContainerInfo, now: Date): string {
  const state = c.state;
  if (state === null) return "Unknown";
  const since = (ts: Timestamp | null): string => {
    const ms = timestampToMs(ts);
    return ms === undefined ? "" : humanDuration(Math.max(0, now.getTime() - ms));
  };
  switch (state.status) {
    case "running":
    case "paused": {
      const up = since(state.started_at);
      const text = up === "" ? "Up" : `Up ${up}`;
      return state.paused || state.status === "paused" ? `${text} (Paused)` : text;
    }
    case "exited":
    case "restarting": {
      const word = state.status === "exited" ? "Exited" : "Restarting";
      const ago = since(state.finished_at);
      return ago === "" ? `${word} (${state.exit_code})` : `${word} (${state.exit_code}) ${ago} ago`;
    }
    case "created":
      return "Created";
    case "starting":
      return "Starting";
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "lost":
      return "Lost";
    default:
      return state.status === "" ? "Unknown" : state.status[0]!.toUpperCase() + state.status.slice(1);
  }
}

/** The command as `ps` shows it: quoted, cut to 20 characters with an ellipsis. */
export function commandText(args: readonly string[], width = 20): string {
  const full = args.join(" ");
  const cut = full.length > width ? `${full.slice(0, width - 1)}…` : full;
  return `"${cut}"`;
}

function imageText(c: ContainerInfo): string {
  return c.image !== "" ? c.image : c.rootfs;
}

function ipcModeText(c: ContainerInfo): string {
  return c.effective_ipc_mode !== "" ? c.effective_ipc_mode : (c.host_config?.ipc_mode ?? "");
}

/** `ps --no-trunc`: full ids and commands, in every format. */
export type PsOptions = { noTrunc: boolean };

const TRUNCATED: PsOptions = { noTrunc: false };

function psId(c: ContainerInfo, o: PsOptions): string {
  return o.noTrunc ? c.id : shortId(c.id);
}

function psCommand(c: ContainerInfo, o: PsOptions): string {
  return commandText(c.args, o.noTrunc ? Number.MAX_SAFE_INTEGER : 20);
}

/** The IPC column: a joined owner's id cut to 12 characters, unless `--no-trunc`. */
function psIpcMode(c: ContainerInfo, o: PsOptions): string {
  const mode = ipcModeText(c);
  return o.noTrunc ? mode : mode.replace(/^container:([0-9a-f]{12})[0-9a-f]{52}$/, "container:$1");
}

export function formatPsTable(containers: readonly ContainerInfo[], now: Date, o: PsOptions = TRUNCATED): string {
  return formatTable(
    ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "IPC", "HOST", "NAMES"],
    containers.map((c) => {
      const created = timestampToMs(c.created_at);
      return [
        psId(c, o),
        imageText(c),
        psCommand(c, o),
        created === undefined ? "" : `${humanDuration(Math.max(0, now.getTime() - created))} ago`,
        containerStatusText(c, now),
        psIpcMode(c, o),
        c.host,
        c.name,
      ];
    }),
  );
}

/** One line of `ps --format json`, with docker's field names (docker prints one object per line). */
export function psJsonLine(c: ContainerInfo, now: Date, o: PsOptions = TRUNCATED): string {
  return JSON.stringify(psObject(c, now, o));
}

/**
 * A container as `ps --format` sees it (docker's keys): the JSON line and the template's
 * `.`. As docker's, `ID` and `Command` are cut as in the table unless `--no-trunc`.
 */
export function psObject(c: ContainerInfo, now: Date, o: PsOptions = TRUNCATED): Record<string, unknown> {
  return {
    ID: psId(c, o),
    Image: imageText(c),
    Command: psCommand(c, o),
    CreatedAt: formatTimestamp(c.created_at),
    State: c.state?.status ?? "",
    Status: containerStatusText(c, now),
    Names: c.name,
    IpcMode: ipcModeText(c),
    Host: c.host,
  };
}

function nullIfEmpty<T>(values: readonly T[]): T[] | null {
  return values.length === 0 ? null : [...values];
}

/**
 * One element of `shoal inspect`'s array: docker's field names and meanings where docker
 * has them (`HostConfig.IpcMode` is the mode after the daemon default was applied,
 * `HostConfig.ShmSize` the effective size in bytes), plus Shoal's `Host`, `IpcGroup`,
 * `Rootfs` and `ConfigVersion`.
 */
export function toDockerInspect(c: ContainerInfo): Record<string, unknown> {
  const state = c.state;
  const hc = c.host_config;
  const group = c.ipc_group;
  return {
    Id: c.id,
    Created: formatTimestamp(c.created_at),
    Path: c.args[0] ?? "",
    Args: c.args.slice(1),
    State: {
      Status: state?.status ?? "",
      Running: state?.running ?? false,
      Paused: state?.paused ?? false,
      Restarting: state?.status === "restarting",
      OOMKilled: state?.oom_killed ?? false,
      Dead: state?.dead ?? false,
      Pid: state?.pid ?? 0,
      ExitCode: state?.exit_code ?? 0,
      Error: state?.error ?? "",
      StartedAt: formatTimestamp(state?.started_at),
      FinishedAt: formatTimestamp(state?.finished_at),
    },
    // Docker's: the image's id here, the reference as given in Config.Image.
    Image: c.image_id || c.image,
    Rootfs: c.rootfs,
    RestartCount: c.restart_count,
    Name: `/${c.name}`,
    Host: c.host,
    Config: {
      Image: c.image,
      User: c.user ?? "",
      Env: nullIfEmpty(c.env),
      Cmd: nullIfEmpty(c.cmd ?? c.args),
      WorkingDir: c.working_dir ?? "",
      Entrypoint: nullIfEmpty(c.entrypoint ?? []),
      ...(c.stop_signal ? { StopSignal: c.stop_signal } : {}),
    },
    HostConfig: {
      IpcMode: ipcModeText(c),
      ShmSize: Number(c.effective_shm_size_bytes),
      AutoRemove: hc?.auto_remove ?? false,
      Runtime: c.runtime?.name || hc?.runtime || "",
      SecurityOpt: nullIfEmpty(hc?.security_opt ?? []),
      ReadonlyRootfs: hc?.readonly_rootfs ?? false,
      Privileged: hc?.privileged ?? false,
      Memory: Number(hc?.memory || 0),
      NanoCpus: nanoCpus(hc?.cpus ?? ""),
      RestartPolicy: restartPolicy(hc?.restart_policy ?? ""),
      StopOnDisconnect: hc?.stop_on_disconnect ?? "",
      Binds: nullIfEmpty((hc?.mounts ?? []).map((m) => `${m.source}:${m.target}${m.readonly ? (m.readonly_mode === "recursive" ? ":rro" : ":ro") : ""}`)),
    },
    IpcGroup: {
      Owner: group?.owner_id ?? "",
      Members: group?.member_ids ?? [],
      Role: group?.role ?? "",
      ShmSize: Number(group?.shm_size_bytes ?? 0),
      ShmMountPath: group?.shm_mount_path ?? "",
    },
    ConfigVersion: Number(c.config_version),
  };
}

/**
 * Docker's `HostConfig.NanoCpus` from the canonical `cpus` text the api sends ("1.5",
 * validated when the container was created); 0 when unset. Converted here, not with the
 * domain's parser, so that printing loads no validation library.
 */
function nanoCpus(cpus: string): number {
  const [whole = "0", fraction = ""] = cpus.split(".");
  return Number(whole) * 1e9 + Number(fraction.padEnd(9, "0").slice(0, 9) || "0");
}

/** Docker's `HostConfig.RestartPolicy` from the canonical text the api sends ("no", "on-failure:3"). */
function restartPolicy(text: string): { Name: string; MaximumRetryCount: number } {
  const [name = "", count = "0"] = text.split(":");
  return { Name: name || "no", MaximumRetryCount: Number(count) || 0 };
}

/** `shoal inspect`'s output: a JSON array indented as docker indents it. */
export function formatInspect(containers: readonly ContainerInfo[]): string {
  return `${JSON.stringify(containers.map(toDockerInspect), null, 4)}\n`;
}

/** One line per event: time, type, stream, stream version and the cursor to resume after it. */
export function formatEventLine(e: ShoalEvent): string {
  return `${formatTimestamp(e.recorded_at)} ${e.type} ${e.stream_id} (version=${e.stream_version}, cursor=${e.cursor})`;
}

function parseJsonOr(text: string): unknown {
  if (text === "") return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function eventJsonLine(e: ShoalEvent): string {
  return JSON.stringify({
    cursor: e.cursor,
    id: e.event_id,
    type: e.type,
    streamId: e.stream_id,
    streamVersion: Number(e.stream_version),
    time: formatTimestamp(e.recorded_at),
    schemaVersion: e.schema_version,
    data: parseJsonOr(e.data_json),
    metadata: parseJsonOr(e.metadata_json),
  });
}

/**
 * `shoal hosts`: one row per host, its CPUs and memory beside what its containers reserve.
 * CPUS is `-` for a host whose agent reported no CPU count (CPUs do not limit it).
 */
export function formatHostsTable(hosts: readonly HostInfo[], now: Date): string {
  return formatTable(
    ["NAME", "STATUS", "CONTAINERS", "CPUS", "CPUS RESERVED", "MEMORY", "MEMORY RESERVED", "LAST HEARTBEAT"],
    hosts.map((h) => {
      const beat = timestampToMs(h.last_heartbeat);
      const cpus = Number(h.nano_cpus ?? "0");
      return [
        h.name,
        h.status,
        String(h.containers),
        cpus === 0 ? "-" : cpusText(cpus),
        cpusText(Number(h.nano_cpus_reserved ?? "0")),
        formatBytes(Number(h.memory_bytes)),
        formatBytes(Number(h.memory_reserved_bytes)),
        beat === undefined ? "never" : `${humanDuration(Math.max(0, now.getTime() - beat))} ago`,
      ];
    }),
  );
}

/** `checkpoint ls --format json`: one object per checkpoint. */
export function checkpointJsonLine(c: CheckpointInfo): string {
  return JSON.stringify({
    Name: c.name,
    Container: c.container_id,
    ContainerName: c.container_name,
    Digest: c.digest,
    Size: Number(c.size_bytes),
    Mode: c.mode,
    Host: c.host,
    Members: c.member_ids,
    CriuVersion: c.criu_version,
    Kernel: c.kernel,
    Created: formatTimestamp(c.created_at),
    Replicated: c.replicated,
    ShmSaved: c.shm_saved,
    LeaveRunning: c.leave_running,
  });
}

/** `checkpoint ls`: Docker's one column. */
export function formatCheckpointsTable(checkpoints: readonly CheckpointInfo[]): string {
  return formatTable(["CHECKPOINT NAME"], checkpoints.map((c) => [c.name]));
}

export function hostJsonLine(h: HostInfo): string {
  return JSON.stringify({
    Name: h.name,
    Status: h.status,
    Containers: h.containers,
    // Docker's unit for CPUs; 0 when the host reported no CPU count.
    NanoCpus: Number(h.nano_cpus ?? "0"),
    NanoCpusReserved: Number(h.nano_cpus_reserved ?? "0"),
    MemoryBytes: Number(h.memory_bytes),
    MemoryReservedBytes: Number(h.memory_reserved_bytes),
    LastHeartbeat: formatTimestamp(h.last_heartbeat),
    Capabilities: parseJsonOr(h.capabilities_json),
  });
}

/** `1500000000` → `1.5`: nano-CPUs as `--cpus` takes them (the domain's formatCpus, without loading the domain). */
function cpusText(nanoCpus: number): string {
  const whole = Math.floor(nanoCpus / 1e9);
  const fraction = String(nanoCpus % 1e9).padStart(9, "0").replace(/0+$/, "");
  return fraction === "" ? String(whole) : `${whole}.${fraction}`;
}
