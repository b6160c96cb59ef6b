import packageJson from "../package.json";

/** The CLI's version, from its package.json (inlined into the bundle). */
export const CLI_VERSION: string = packageJson.version;
