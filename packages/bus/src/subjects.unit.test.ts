import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "@shoal/domain";
import {
  eventSubject,
  eventsFilter,
  hostCommandSubject,
  hostHeartbeatSubject,
  hostReportSubject,
  hostReportsFilter,
  parseHostSubject,
} from "./subjects";
import { eventsStreamName, reportsStreamName } from "./streams";

describe("event subjects", () => {
  it.each([
    ["ContainerStarted", "container"],
    ["HostRegistered", "host"],
    ["DaemonConfigChanged", "config"],
    ["ConfigChanged", "config"],
    ["IpcGroupFormed", "ipc-group"],
    ["CheckpointCreated", "checkpoint"],
  ])("%s goes under its aggregate %s", (type, aggregate) => {
    expect(eventSubject("p", type)).toBe(`p.evt.${aggregate}.${type}`);
  });

  it.each(["Container", "Unknown", "containerStarted", "Container.Started", "", "ContainerStarted>", "Host *"])(
    "refuses event type %j with InvalidArgumentError",
    (type) => {
      expect(() => eventSubject("p", type)).toThrow(InvalidArgumentError);
    },
  );
});

describe("subjects", () => {
  it("puts events under <prefix>.evt.<aggregate>.<Type>", () => {
    expect(eventSubject("shoal", "ContainerStarted")).toBe("shoal.evt.container.ContainerStarted");
    expect(eventSubject("t1", "DaemonConfigChanged")).toBe("t1.evt.config.DaemonConfigChanged");
    expect(eventsFilter("shoal")).toBe("shoal.evt.>");
    expect(eventsFilter("shoal", "ipc-group")).toBe("shoal.evt.ipc-group.>");
  });

  it("addresses host commands, reports and heartbeats to one host", () => {
    expect(hostCommandSubject("shoal", "node-1", "StartContainer")).toBe("shoal.host.node-1.cmd.StartContainer");
    expect(hostReportSubject("shoal", "node-1", "ContainerExited")).toBe("shoal.host.node-1.report.ContainerExited");
    expect(hostHeartbeatSubject("shoal", "node-1")).toBe("shoal.host.node-1.heartbeat");
    expect(hostHeartbeatSubject("shoal")).toBe("shoal.host.*.heartbeat");
    expect(hostReportsFilter("shoal")).toBe("shoal.host.*.report.>");
  });

  it.each(["a.b", "*", ">", "a b", "tab\there", "", "new\nline"])("refuses host name %j", (host) => {
    expect(() => hostCommandSubject("shoal", host, "Cmd")).toThrow(InvalidArgumentError);
    expect(() => hostReportSubject("shoal", host, "Rep")).toThrow(InvalidArgumentError);
    expect(() => hostHeartbeatSubject("shoal", host)).toThrow(InvalidArgumentError);
  });

  it.each(["Do.It", "Do*", "Do>", "Do It", ""])("refuses command / report token %j", (token) => {
    expect(() => hostCommandSubject("shoal", "h", token)).toThrow(InvalidArgumentError);
    expect(() => hostReportSubject("shoal", "h", token)).toThrow(InvalidArgumentError);
  });

  it.each(["a.b", "a*", "", "x y", "shoal>"])("refuses prefix %j", (prefix) => {
    expect(() => eventSubject(prefix, "ContainerStarted")).toThrow(InvalidArgumentError);
    expect(() => eventsStreamName(prefix)).toThrow(InvalidArgumentError);
  });

  it("names streams after the prefix", () => {
    expect(eventsStreamName("shoal")).toBe("SHOAL_EVENTS");
    expect(reportsStreamName("my-site")).toBe("MY_SITE_REPORTS");
  });

  it("parses what it builds, for any valid host and name", () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/);
    fc.assert(
      fc.property(token, token, token, (prefix, host, name) => {
        expect(parseHostSubject(prefix, hostCommandSubject(prefix, host, name))).toEqual({ host, kind: "cmd", name });
        expect(parseHostSubject(prefix, hostReportSubject(prefix, host, name))).toEqual({ host, kind: "report", name });
        expect(parseHostSubject(prefix, hostHeartbeatSubject(prefix, host))).toEqual({ host, kind: "heartbeat" });
      }),
    );
  });

  it("ignores subjects of another prefix or shape", () => {
    expect(parseHostSubject("shoal", "other.host.h.cmd.X")).toBeUndefined();
    expect(parseHostSubject("shoal", "shoal.host.h.cmd")).toBeUndefined();
    expect(parseHostSubject("shoal", "shoal.host.h.cmd.X.Y")).toBeUndefined();
    expect(parseHostSubject("shoal", "shoal.evt.container.ContainerStarted")).toBeUndefined();
  });
});
