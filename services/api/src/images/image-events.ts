import { randomUUID } from "node:crypto";
import { IMAGE_EVENT_SCHEMA_VERSIONS, imageStreamId } from "@shoal/domain";
import type { ImageEvent } from "@shoal/domain";
import type { ApiContext } from "../api-context";

/** Appends one image event to its host's stream (`image-<host>`): history, no decision rests on it. */
export async function recordImageEvent(ctx: Pick<ApiContext, "store">, event: ImageEvent): Promise<void> {
  await ctx.store.appendToStream(imageStreamId(event.data.host), "any", [
    { eventId: randomUUID(), type: event.type, schemaVersion: IMAGE_EVENT_SCHEMA_VERSIONS[event.type], data: event.data, metadata: { actor: "api" } },
  ]);
}
