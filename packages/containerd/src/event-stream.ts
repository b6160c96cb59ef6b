import { randomUUID } from "node:crypto";
import type { ClientReadableStream } from "@grpc/grpc-js";
import type { Envelope__Output } from "./generated/containerd/services/events/v1/Envelope";
import { packAny, toDate, unpackAny } from "./proto";
import type { RpcChannel } from "./rpc-channel";

interface EventBase {
  /** containerd namespace the event happened in (always the client's). */
  namespace: string;
  /** containerd topic, e.g. `/tasks/exit`. */
  topic: string;
  timestamp: Date;
  containerId: string;
}

/** Task events of the client's containerd namespace, decoded from `containerd.events.*`. */
export type ContainerdEvent =
  | (EventBase & { type: "task-create"; pid: number })
  | (EventBase & { type: "task-start"; pid: number })
  | (EventBase & { type: "task-exit"; execId: string; pid: number; exitStatus: number; exitedAt: Date })
  | (EventBase & { type: "task-oom" })
  | (EventBase & { type: "task-delete"; execId: string; pid: number; exitStatus: number; exitedAt: Date })
  | (EventBase & { type: "task-paused" })
  | (EventBase & { type: "task-resumed" })
  | (EventBase & { type: "task-exec-added"; execId: string })
  | (EventBase & { type: "task-exec-started"; execId: string; pid: number });

export type ContainerdEventType = ContainerdEvent["type"];
export type ContainerdEventOf<T extends ContainerdEventType> = Extract<ContainerdEvent, { type: T }>;

/**
 * The client's one `Events.Subscribe` stream, filtered to its namespace.
 *
 * Contract: after `connectContainerd` resolves, the stream is live (proven by a marker
 * event published and received back). When the stream breaks (containerd restarted,
 * socket gone) it is re-subscribed with backoff (100 ms doubling to 5 s) until the client
 * closes. Events published while it was down are not replayed; `onReconnect` listeners
 * run once the new subscription is live, and the client itself re-checks, with one
 * Tasks.Get each, every watched process whose exit it has not seen, so `wait()` never
 * hangs on an exit that happened during the gap.
 */
export interface ContainerdEvents {
  /** Whether the subscription is currently live. */
  readonly connected: boolean;
  /** Calls `listener` for each event of `type`; returns the function that unsubscribes. Listener errors are swallowed. */
  on<T extends ContainerdEventType>(type: T, listener: (event: ContainerdEventOf<T>) => void): () => void;
  /** Calls `listener` each time the stream is live again after a break; returns the unsubscribe function. */
  onReconnect(listener: () => void): () => void;
  /**
   * All events from now on, buffered in order; ends when the client closes. Breaking out
   * of a `for await` loop unsubscribes.
   */
  stream(): AsyncIterableIterator<ContainerdEvent>;
}

const READY_TOPIC = "/shoal/events-ready";
const READY_TYPE = "containerd.runc.v1.ProcessDetails"; // any loaded message type will do; the payload carries a token
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5000;

type Listener = (event: ContainerdEvent) => void;

export class EventStream implements ContainerdEvents {
  private call: ClientReadableStream<Envelope__Output> | undefined;
  private live = false;
  private closed = false;
  private everLive = false;
  private backoffMs = MIN_BACKOFF_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  private readyTimer: NodeJS.Timeout | undefined;
  private readyToken = "";
  private readonly listeners = new Map<ContainerdEventType, Set<Listener>>();
  private readonly reconnectListeners = new Set<() => void>();
  private readonly iterators = new Set<(e: ContainerdEvent | undefined) => void>();
  private firstLive: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly channel: RpcChannel,
    private readonly namespace: string,
    private readonly readyTimeoutMs: number,
    /** Runs before listeners for every event (the client's exit tracking). */
    private readonly intake: (event: ContainerdEvent) => void,
    /** Runs after a re-subscription is live, before onReconnect listeners. */
    private readonly afterReconnect: () => void,
  ) {}

  get connected(): boolean {
    return this.live;
  }

  /** Subscribes; resolves when the first subscription is live, rejects if it is not within the ready timeout. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.firstLive = { resolve, reject };
      this.channel.detached(() => this.subscribe());
    });
  }

  on<T extends ContainerdEventType>(type: T, listener: (event: ContainerdEventOf<T>) => void): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) this.listeners.set(type, (set = new Set()));
    const l = listener as Listener;
    set.add(l);
    return () => set.delete(l);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  stream(): AsyncIterableIterator<ContainerdEvent> {
    const buffer: ContainerdEvent[] = [];
    let ended = this.closed;
    let wake: (() => void) | undefined;
    const push = (e: ContainerdEvent | undefined) => {
      if (e === undefined) ended = true;
      else buffer.push(e);
      wake?.();
    };
    this.iterators.add(push);
    const finish = (): IteratorResult<ContainerdEvent> => {
      this.iterators.delete(push);
      ended = true;
      return { done: true, value: undefined };
    };
    const it: AsyncIterableIterator<ContainerdEvent> = {
      next: async () => {
        for (;;) {
          const e = buffer.shift();
          if (e !== undefined) return { done: false, value: e };
          if (ended) return finish();
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      },
      return: async () => finish(),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }

  close(): void {
    this.closed = true;
    this.live = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.readyTimer);
    this.call?.cancel();
    this.call = undefined;
    for (const push of this.iterators) push(undefined);
    this.iterators.clear();
    this.firstLive?.reject(new Error("client closed"));
    this.firstLive = undefined;
  }

  private subscribe(): void {
    if (this.closed) return;
    const call = this.channel.subscribe({ filters: [`namespace==${this.namespace}`] });
    this.call = call;
    const token = randomUUID();
    this.readyToken = token;
    call.on("data", (env: Envelope__Output) => this.onEnvelope(call, env));
    call.on("error", () => this.broken(call)); // CANCELLED from our own cancel() lands here too; broken() ignores stale calls
    call.on("end", () => this.broken(call));
    // Prove the subscription is registered: publish a marker until it comes back. containerd
    // registers the subscriber asynchronously, so a marker published right away can be missed.
    this.readyTimer = setTimeout(() => this.broken(call), this.readyTimeoutMs);
    void this.publishMarkers(call, token);
  }

  private async publishMarkers(call: ClientReadableStream<Envelope__Output>, token: string): Promise<void> {
    let pauseMs = 10;
    while (call === this.call && !this.live) {
      try {
        await this.channel.unary("Events/Publish", { topic: READY_TOPIC, event: packAny(READY_TYPE, { execId: token }) });
      } catch {
        this.broken(call);
        return;
      }
      await new Promise((r) => setTimeout(r, pauseMs));
      pauseMs = Math.min(pauseMs * 2, 500);
    }
  }

  private onEnvelope(call: ClientReadableStream<Envelope__Output>, env: Envelope__Output): void {
    if (call !== this.call) return;
    if (env.topic === READY_TOPIC) {
      const marker = env.event === null ? undefined : unpackAny(env.event);
      if (!this.live && marker?.value.execId === this.readyToken) this.becameLive();
      return;
    }
    const event = decodeEnvelope(env);
    if (event === undefined) return;
    this.intake(event);
    for (const l of this.listeners.get(event.type) ?? []) {
      try {
        l(event);
      } catch {
        // a listener's failure is its own; the stream goes on
      }
    }
    for (const push of this.iterators) push(event);
  }

  private becameLive(): void {
    clearTimeout(this.readyTimer);
    this.live = true;
    this.backoffMs = MIN_BACKOFF_MS;
    const reconnected = this.everLive;
    this.everLive = true;
    this.firstLive?.resolve();
    this.firstLive = undefined;
    if (reconnected) {
      this.channel.detached(() => this.afterReconnect());
      for (const l of this.reconnectListeners) {
        try {
          l();
        } catch {
          // as for event listeners
        }
      }
    }
  }

  private broken(call: ClientReadableStream<Envelope__Output>): void {
    if (call !== this.call || this.closed) return;
    this.call = undefined;
    this.live = false;
    clearTimeout(this.readyTimer);
    call.cancel();
    if (this.firstLive !== undefined && !this.everLive) {
      // connectContainerd reports the failure instead of retrying behind the caller's back.
      this.firstLive.reject(new Error(`events stream did not become live within ${this.readyTimeoutMs} ms`));
      this.firstLive = undefined;
      return;
    }
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    this.retryTimer = setTimeout(() => this.channel.detached(() => this.subscribe()), delay);
  }
}

/** Decodes one envelope; undefined for topics Shoal does not use. Exported for unit tests. */
export function decodeEnvelope(env: Envelope__Output): ContainerdEvent | undefined {
  if (env.event === null) return undefined;
  const payload = unpackAny(env.event);
  if (payload === undefined) return undefined;
  const v = payload.value;
  const containerId = str(v.containerId);
  const base = { namespace: env.namespace, topic: env.topic, timestamp: toDate(env.timestamp) ?? new Date(0), containerId };
  switch (payload.typeName) {
    case "containerd.events.TaskCreate":
      return { ...base, type: "task-create", pid: num(v.pid) };
    case "containerd.events.TaskStart":
      return { ...base, type: "task-start", pid: num(v.pid) };
    case "containerd.events.TaskExit": {
      // The init process is reported with id == container id.
      const id = str(v.id);
      return {
        ...base,
        type: "task-exit",
        execId: id === containerId ? "" : id,
        pid: num(v.pid),
        exitStatus: num(v.exitStatus),
        exitedAt: toDate(v.exitedAt as { seconds?: unknown; nanos?: unknown } | undefined) ?? base.timestamp,
      };
    }
    case "containerd.events.TaskOOM":
      return { ...base, type: "task-oom" };
    case "containerd.events.TaskDelete": {
      const id = str(v.id);
      return {
        ...base,
        type: "task-delete",
        execId: id === containerId ? "" : id,
        pid: num(v.pid),
        exitStatus: num(v.exitStatus),
        exitedAt: toDate(v.exitedAt as { seconds?: unknown; nanos?: unknown } | undefined) ?? base.timestamp,
      };
    }
    case "containerd.events.TaskPaused":
      return { ...base, type: "task-paused" };
    case "containerd.events.TaskResumed":
      return { ...base, type: "task-resumed" };
    case "containerd.events.TaskExecAdded":
      return { ...base, type: "task-exec-added", execId: str(v.execId) };
    case "containerd.events.TaskExecStarted":
      return { ...base, type: "task-exec-started", execId: str(v.execId), pid: num(v.pid) };
    default:
      return undefined;
  }
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function num(v: unknown): number {
  return typeof v === "number" ? v : Number(v ?? 0);
}
