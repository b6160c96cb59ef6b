import { InvalidArgumentError } from "@shoal/domain";
import { parseCommand } from "@shoal/host-protocol";
import type { CommandName } from "@shoal/host-protocol";
import type { AgentContext } from "./agent-context";
import {
  deleteContainer,
  execInContainer,
  killContainer,
  listContainers,
  pauseContainer,
  readLogs,
  stopContainer,
  topContainer,
} from "./container-operations";
import { reconcileCommand } from "./reconcile";
import { mountOwnerShm, unmountOwnerShm } from "./shm-mounts";
import { startContainer } from "./start-container";
import { checkpointContainers, removeCheckpoint, replicateCheckpoint } from "./checkpoints";
import { pullImage } from "./images/pull-image";
import { refreshImageIds } from "./images/local-images";
import { loadImage, saveImage } from "./images/archive-transfer";
import { inspectImage, listImages, removeImage, tagImage } from "./images/image-operations";

// The agent's command surface (as containerd's service.go over its local implementation):
// each host command is parsed with @shoal/host-protocol and handed to one operation.

/** Every command the agent serves, one NATS handler each. */
export const COMMANDS: readonly CommandName[] = [
  "MountShm",
  "UnmountShm",
  "StartContainer",
  "StopContainer",
  "KillContainer",
  "PauseContainer",
  "UnpauseContainer",
  "ExecInContainer",
  "ReadLogs",
  "TopContainer",
  "DeleteContainer",
  "Reconcile",
  "ListContainers",
  "CheckpointContainers",
  "ReplicateCheckpoint",
  "RemoveCheckpoint",
  "PullImage",
  "ListImages",
  "InspectImage",
  "RemoveImage",
  "TagImage",
  "LoadImage",
  "SaveImage",
];

/** `done`'s answer, once the host's image ids (its heartbeats') are read again. */
async function afterImagesChanged<T>(ctx: AgentContext, done: Promise<T>): Promise<T> {
  try {
    return await done;
  } finally {
    await refreshImageIds(ctx);
  }
}

/**
 * Runs one command: InvalidArgumentError naming the field for a payload that does not parse,
 * else the operation's answer or error (a ShoalError, which the host channel sends back with
 * its code).
 */
export async function handleCommand(ctx: AgentContext, command: CommandName, payload: unknown): Promise<unknown> {
  switch (command) {
    case "MountShm":
      return mountOwnerShm(ctx, parseCommand(command, payload));
    case "UnmountShm":
      return unmountOwnerShm(ctx, parseCommand(command, payload));
    case "StartContainer":
      return startContainer(ctx, parseCommand(command, payload));
    case "StopContainer":
      return stopContainer(ctx, parseCommand(command, payload));
    case "KillContainer":
      return killContainer(ctx, parseCommand(command, payload));
    case "PauseContainer":
      return pauseContainer(ctx, parseCommand(command, payload), true);
    case "UnpauseContainer":
      return pauseContainer(ctx, parseCommand(command, payload), false);
    case "ExecInContainer":
      return execInContainer(ctx, parseCommand(command, payload));
    case "ReadLogs":
      return readLogs(ctx, parseCommand(command, payload));
    case "TopContainer":
      return topContainer(ctx, parseCommand(command, payload));
    case "DeleteContainer":
      return deleteContainer(ctx, parseCommand(command, payload));
    case "Reconcile":
      return reconcileCommand(ctx, parseCommand(command, payload));
    case "ListContainers":
      return listContainers(ctx);
    case "CheckpointContainers":
      return checkpointContainers(ctx, parseCommand(command, payload));
    case "ReplicateCheckpoint":
      return replicateCheckpoint(ctx, parseCommand(command, payload));
    case "RemoveCheckpoint":
      return removeCheckpoint(ctx, parseCommand(command, payload));
    case "PullImage":
      return pullImage(ctx, parseCommand(command, payload));
    case "ListImages":
      return listImages(ctx);
    case "InspectImage":
      return inspectImage(ctx, parseCommand(command, payload));
    case "RemoveImage":
      return afterImagesChanged(ctx, removeImage(ctx, parseCommand(command, payload)));
    case "TagImage":
      return afterImagesChanged(ctx, tagImage(ctx, parseCommand(command, payload)));
    case "LoadImage":
      return afterImagesChanged(ctx, loadImage(ctx, parseCommand(command, payload)));
    case "SaveImage":
      return saveImage(ctx, parseCommand(command, payload));
    default: {
      const never: never = command;
      throw new InvalidArgumentError(`unknown command ${String(never)}`);
    }
  }
}
