import {
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  isIndexMediaType,
  isManifestMediaType,
} from "@shoal/domain";

/** The Accept header of a manifest GET: every manifest and index type a pull can use, none preferred. */
export const MANIFEST_ACCEPT = [MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_DOCKER_MANIFEST].join(", ");

export type ManifestKind = "index" | "manifest";

/**
 * What a manifest response is: by its `mediaType` field when it has one (the registry's
 * Content-Type may carry parameters or be generic), else by the Content-Type, else by shape
 * (`manifests` → index, `config` + `layers` → manifest). Undefined for anything else, e.g.
 * a schema 1 manifest (`schemaVersion: 1`), which Shoal does not pull.
 */
export function manifestKind(contentType: string | null, body: unknown): ManifestKind | undefined {
  const obj = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  if (obj.schemaVersion !== 2) return undefined;
  const declared = typeof obj.mediaType === "string" ? obj.mediaType : undefined;
  const header = contentType?.split(";")[0]?.trim().toLowerCase();
  for (const mediaType of [declared, header]) {
    if (mediaType === undefined) continue;
    if (isIndexMediaType(mediaType)) return "index";
    if (isManifestMediaType(mediaType)) return "manifest";
  }
  if (Array.isArray(obj.manifests)) return "index";
  if (typeof obj.config === "object" && obj.config !== null && Array.isArray(obj.layers)) return "manifest";
  return undefined;
}

/** The media type to record for a manifest document: its own field, else the header's, else the OCI type of its kind. */
export function manifestMediaType(contentType: string | null, body: unknown, kind: ManifestKind): string {
  const declared = (body as { mediaType?: unknown }).mediaType;
  if (typeof declared === "string" && declared !== "") return declared;
  const header = contentType?.split(";")[0]?.trim().toLowerCase();
  if (header !== undefined && (isIndexMediaType(header) || isManifestMediaType(header))) return header;
  return kind === "index" ? MEDIA_TYPE_OCI_INDEX : MEDIA_TYPE_OCI_MANIFEST;
}
