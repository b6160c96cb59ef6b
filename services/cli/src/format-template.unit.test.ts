import { describe, expect, it } from "vitest";
import { compileTemplate, isTemplate, TemplateError } from "./format-template";

const inspected = {
  Id: "abc",
  State: { Pid: 42, Running: true, Error: "" },
  HostConfig: { IpcMode: "shareable", ShmSize: 67108864, Binds: null },
  IpcGroup: { Members: ["m1", "m2"] },
};

describe("compileTemplate", () => {
  it("renders fields as docker's templates do for the values scripts read", () => {
    expect(compileTemplate("{{.State.Pid}}")(inspected)).toBe("42");
    expect(compileTemplate("{{ .State.Running }}")(inspected)).toBe("true");
    expect(compileTemplate("id={{.Id}} ipc={{.HostConfig.IpcMode}}\\tshm={{.HostConfig.ShmSize}}")(inspected)).toBe(
      "id=abc ipc=shareable\tshm=67108864",
    );
    expect(compileTemplate("[{{.State.Error}}]")(inspected)).toBe("[]");
    expect(compileTemplate("{{.HostConfig.Binds}}")(inspected)).toBe("<nil>");
    expect(compileTemplate("{{.IpcGroup.Members}}")(inspected)).toBe('["m1","m2"]');
    expect(compileTemplate("{{json .IpcGroup}}")(inspected)).toBe('{"Members":["m1","m2"]}');
    expect(JSON.parse(compileTemplate("{{json .}}")(inspected))).toEqual(inspected);
    expect(compileTemplate("plain")(inspected)).toBe("plain");
  });

  it("refuses what it does not implement when compiling, and missing fields when rendering", () => {
    expect(() => compileTemplate("{{if .State.Running}}yes{{end}}")).toThrow(TemplateError);
    expect(() => compileTemplate("{{.State.Pid")).toThrow("unclosed action");
    expect(() => compileTemplate("{{range .X}}")).toThrow("unsupported action");
    const render = compileTemplate("{{.State.Nope}}");
    expect(() => render(inspected)).toThrow('no field "Nope"');
  });

  it("isTemplate tells a template from a format name", () => {
    expect(isTemplate("{{.ID}}")).toBe(true);
    expect(isTemplate("json")).toBe(false);
  });
});
