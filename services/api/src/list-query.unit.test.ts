import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { decodePageToken, domainStatusesOf, encodePageToken, parseListQuery, publicStatus, PUBLIC_STATUSES } from "./list-query";

const base = { all: false, filters: {}, pageSize: 0, pageToken: "" };

describe("parseListQuery", () => {
  it("lists running and paused containers by default, everything with all (ps vs ps -a)", () => {
    expect(parseListQuery(base)).toEqual({ pageSize: 100, statuses: ["running", "paused"] });
    expect(parseListQuery({ ...base, all: true })).toEqual({ pageSize: 100 });
  });

  it("reads every filter", () => {
    const q = parseListQuery({
      ...base,
      filters: { name: "/web", id: "3f", status: "starting", host: "h1", "ipc-owner": "ab" },
      pageSize: 5000,
    });
    expect(q).toEqual({
      pageSize: 1000,
      name: "web",
      idPrefix: "3f",
      statuses: ["starting", "scheduled", "ipc-prepared"],
      host: "h1",
      ipcOwnerPrefix: "ab",
    });
  });

  it("refuses unknown filters and statuses with the allowed values", () => {
    expect(() => parseListQuery({ ...base, filters: { label: "x" } })).toThrow(
      new InvalidArgumentError("invalid filter 'label' (want one of name, id, status, host, ipc-owner)"),
    );
    expect(() => parseListQuery({ ...base, filters: { status: "up" } })).toThrow(/invalid filter 'status=up'/);
    expect(() => parseListQuery({ ...base, pageSize: -1 })).toThrow(InvalidArgumentError);
  });
});

describe("page tokens", () => {
  it("round-trip any page key", () => {
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    const time = fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString());
    fc.assert(
      fc.property(hex, time, (id, createdAt) => {
        expect(decodePageToken(encodePageToken({ createdAt, id }))).toEqual({ createdAt, id });
      }),
    );
  });

  it("refuses a token the api did not make", () => {
    expect(() => decodePageToken("garbage")).toThrow(new InvalidArgumentError("invalid page token"));
    const forged = Buffer.from(JSON.stringify({ c: "yesterday", i: "x" })).toString("base64url");
    expect(() => parseListQuery({ ...base, pageToken: forged })).toThrow("invalid page token");
  });
});

describe("status mapping", () => {
  it("maps every domain status behind a public one back to it", () => {
    for (const s of PUBLIC_STATUSES) for (const d of domainStatusesOf(s)) expect(publicStatus(d)).toBe(s);
    expect(publicStatus("start-failed")).toBe("exited");
    expect(publicStatus("ipc-prepared")).toBe("starting");
  });
});
