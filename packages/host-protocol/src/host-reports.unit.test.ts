import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { REPORT_TYPES, parseReportPayload } from "./host-reports";

const ID = "ab".repeat(32);
const NOW = "2026-12-07T12:00:00.000Z";

describe("report payloads at the edge", () => {
  it("takes each report in its wire shape", () => {
    const started = { containerId: ID, pid: 42, ipcNamespaceInode: 4026531839, runtime: { name: "runc", path: "/usr/sbin/runc", args: [], binaryPath: "/usr/sbin/runc" }, startedAt: NOW };
    expect(parseReportPayload(REPORT_TYPES.containerStarted, started)).toEqual(started);
    expect(parseReportPayload(REPORT_TYPES.containerExited, { containerId: ID, pid: 42, exitCode: 137, exitedAt: NOW })).toEqual({
      containerId: ID,
      pid: 42,
      exitCode: 137,
      exitedAt: NOW,
      foundAtRecovery: false,
    });
    const capabilities = {
      kernelVersion: "6.18.0",
      cgroupVersion: "v2",
      runtimes: [{ name: "runc", path: "/usr/sbin/runc", rro: { supported: true } }],
      apparmor: { enabled: false },
      criu: { available: false, reason: "criu: not found" },
      stateRoot: "/var/lib/shoal",
      addedByANewerAgent: 1,
    };
    // Fields a newer agent adds are kept (wire contract: add fields only).
    expect(parseReportPayload(REPORT_TYPES.hostRegistered, { host: "h1", capabilities, startedAt: NOW }).capabilities).toEqual(capabilities);
    // Capacity: memory in bytes, CPUs in nano-CPUs; both optional (older agents send neither).
    const sized = { host: "h1", capabilities, startedAt: NOW, memoryBytes: 2 ** 30, nanoCpus: 1_500_000_000 };
    expect(parseReportPayload(REPORT_TYPES.hostRegistered, sized)).toMatchObject({ memoryBytes: 2 ** 30, nanoCpus: 1_500_000_000 });
    expect(() => parseReportPayload(REPORT_TYPES.hostRegistered, { ...sized, nanoCpus: 1.5 })).toThrow("HostRegistered report: nanoCpus:");
  });

  it.each<[string, string, unknown, string]>([
    ["an exit without a pid", REPORT_TYPES.containerExited, { containerId: ID, exitCode: 0, exitedAt: NOW }, "ContainerExited report: pid:"],
    ["a start with a bad id", REPORT_TYPES.containerStarted, { containerId: "web", pid: 1 }, "ContainerStarted report: containerId: must be a container id (64 hex)"],
    ["a failed start with a negative exit code", REPORT_TYPES.containerStartFailed, { containerId: ID, reason: "x", exitCode: -1 }, "ContainerStartFailed report: exitCode:"],
    ["a registration with a relative state root", REPORT_TYPES.hostRegistered, { host: "h1", capabilities: {}, startedAt: NOW }, "HostRegistered report: capabilities."],
    ["no payload at all", REPORT_TYPES.containerOom, undefined, "ContainerOom report: payload:"],
  ])("refuses %s, naming the field", (_, type, payload, message) => {
    const parse = () => parseReportPayload(type as typeof REPORT_TYPES.containerExited, payload);
    expect(parse).toThrow(InvalidArgumentError);
    expect(parse).toThrow(message);
  });
});

describe("report ids name one incarnation", () => {
  it("a container started again with the same pid (another host's pid namespace, or a reused pid) gets new ids", async () => {
    const { reportIds } = await import("./host-reports");
    const id = "a".repeat(64);
    const first = "2026-12-07T10:00:00.000Z";
    const again = "2026-12-07T10:05:00.000Z";
    expect(reportIds.containerStarted(id, 76, first)).not.toBe(reportIds.containerStarted(id, 76, again));
    expect(reportIds.containerExited(id, 76, first)).not.toBe(reportIds.containerExited(id, 76, again));
    expect(reportIds.containerStarted(id, 76, first)).toBe(reportIds.containerStarted(id, 76, first));
  });
});
