export { createRegistryClient } from "./registry-client";
export type { FetchBlobOptions, FetchedDocument, RegistryClient, RegistryClientOptions, ResolvedImage } from "./registry-client";
export type { RegistryCredentials } from "./authorizer";
export { parseWwwAuthenticate } from "./www-authenticate";
export type { AuthChallenge } from "./www-authenticate";
export { MANIFEST_ACCEPT, manifestKind } from "./media-types";
export { isPlainHttpHost, registryBaseUrl } from "./transport";
export { platformOfHost } from "./platform-of-host";
