/**
 * Reads of the api's tables: name/id lookups on `container_names` (the write side, so a
 * container is found the moment its create returns) and rows of the `containers`
 * projection for Inspect and List.
 */
import type { Kysely, Selectable } from "kysely";
import { NotFoundError, isContainerId } from "@shoal/domain";
import type { HostConfig, IpcPlan, ContainerRunFacts, ContainerSource, ContainerStatus, LockedInRuntime } from "@shoal/domain";
import { mayBeIdPrefix, normalizeRef, pickContainer } from "./container-ref";
import type { NamedContainer } from "./container-ref";
import type { ListQuery } from "./list-query";
import type { ApiDatabase, ContainersTable } from "./api-database";

/**
 * The container `ref` names (full id, exact name, or unique id prefix; `/name` accepted).
 * NotFoundError `No such container: <ref>`; InvalidArgumentError for an ambiguous prefix
 * or a malformed ref.
 */
export async function resolveContainer(db: Kysely<ApiDatabase>, ref: string): Promise<NamedContainer> {
  const r = normalizeRef(ref);
  let q = db.selectFrom("container_names").select(["name", "container_id as id"]).where("name", "=", r);
  if (mayBeIdPrefix(r)) q = db.selectFrom("container_names").select(["name", "container_id as id"]).where((eb) =>
    eb.or([eb("name", "=", r), eb("container_id", "like", `${r}%`)]),
  );
  const rows: NamedContainer[] = await q.limit(50).execute();
  return pickContainer(r, rows);
}

/**
 * Like resolveContainer, for callers that read the container's stream next anyway: a
 * full id is taken as is (a stream that does not exist then answers NOT_FOUND), saving
 * the lookup on the hot path (StartContainer by id, as `shoal run` does).
 */
export async function resolveContainerId(db: Kysely<ApiDatabase>, ref: string): Promise<string> {
  const r = normalizeRef(ref);
  if (isContainerId(r)) return r;
  return (await resolveContainer(db, r)).id;
}

/** A row of the containers projection, JSON columns parsed. */
export type ContainerRow = {
  id: string;
  name: string;
  status: ContainerStatus;
  host: string | null;
  pid: number | null;
  exitCode: number | null;
  error: string | null;
  oomKilled: boolean;
  /** Automatic restarts since the last start by a user. */
  restartCount: number;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  hostConfig: HostConfig;
  source: ContainerSource;
  args: string[];
  env: string[];
  ipcPlan: IpcPlan | null;
  runtime: LockedInRuntime | null;
  configVersion: number | null;
  ipcNamespaceInode: number | null;
  ipcOwnerId: string | null;
  run: ContainerRunFacts | null;
  cwd: string | null;
};

function toRow(r: Selectable<ContainersTable>): ContainerRow {
  return {
    id: r.id,
    name: r.name,
    status: r.status,
    host: r.host,
    pid: r.pid,
    exitCode: r.exit_code,
    error: r.error,
    oomKilled: r.oom_killed,
    restartCount: r.restart_count,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    hostConfig: r.host_config,
    source: r.source,
    args: r.args,
    env: r.env,
    ipcPlan: r.ipc_plan,
    runtime: r.runtime,
    configVersion: r.config_version,
    ipcNamespaceInode: r.ipc_namespace_inode === null ? null : Number(r.ipc_namespace_inode),
    ipcOwnerId: r.ipc_owner_id,
    run: r.run,
    cwd: r.cwd,
  };
}

/** NotFoundError `No such container: <id>` when the projection has no row (yet). */
export async function getContainerRow(db: Kysely<ApiDatabase>, id: string): Promise<ContainerRow> {
  const r = await db.selectFrom("containers").selectAll().where("id", "=", id).executeTakeFirst();
  if (r === undefined) throw new NotFoundError(`No such container: ${id}`);
  return toRow(r);
}

/** Ids of the containers that joined `ownerId`'s IPC namespace (by their IPC plan). */
export async function membersOf(db: Kysely<ApiDatabase>, ownerId: string): Promise<ContainerRow[]> {
  const rows = await db.selectFrom("containers").selectAll().where("ipc_owner_id", "=", ownerId).where("id", "<>", ownerId).execute();
  return rows.map(toRow);
}

/** One page in (created_at, id) order and whether more rows follow. */
export async function listContainerRows(db: Kysely<ApiDatabase>, q: ListQuery): Promise<{ rows: ContainerRow[]; more: boolean }> {
  let s = db.selectFrom("containers").selectAll();
  if (q.statuses) s = s.where("status", "in", q.statuses);
  const name = q.name;
  if (name) s = s.where((eb) => eb(eb.fn<number>("strpos", ["name", eb.val(name)]), ">", 0));
  if (q.idPrefix) s = s.where("id", "like", `${escapeLike(q.idPrefix)}%`);
  if (q.host) s = s.where("host", "=", q.host);
  if (q.ipcOwnerPrefix) s = s.where("ipc_owner_id", "like", `${escapeLike(q.ipcOwnerPrefix)}%`);
  const after = q.after;
  if (after) s = s.where((eb) => eb(eb.refTuple("created_at", "id"), ">", eb.tuple(new Date(after.createdAt), after.id)));
  const rows = await s.orderBy("created_at").orderBy("id").limit(q.pageSize + 1).execute();
  return { rows: rows.slice(0, q.pageSize).map(toRow), more: rows.length > q.pageSize };
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
