import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "@shoal/domain";
import { filterPsOutput, psArguments } from "./container-top";

const PS_EF = `UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 14:04 ?        00:00:04 /sbin/init
root        8819    8799  0 14:09 ?        00:00:00 sleep 100
root        8830    8819  0 14:09 ?        00:00:00 sh -c echo a  b
`;

describe("docker top on a host", () => {
  it("keeps the container's rows, with the command's spaces in its last column", () => {
    expect(filterPsOutput(PS_EF, [8819, 8830])).toEqual({
      titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
      processes: [
        ["root", "8819", "8799", "0", "14:09", "?", "00:00:00", "sleep 100"],
        ["root", "8830", "8819", "0", "14:09", "?", "00:00:00", "sh -c echo a b"],
      ],
    });
  });

  it("finds the PID column wherever the options put it", () => {
    expect(filterPsOutput("COMMAND           PID\nsleep            8819\ninit 1\n", [8819]).processes).toEqual([["sleep", "8819"]]);
  });

  it("refuses output without a PID column, as dockerd does", () => {
    expect(() => filterPsOutput("COMMAND\nsleep\n", [1])).toThrow(new InvalidArgumentError("Couldn't find PID field in ps output"));
  });

  it("passes the user's options split at spaces; none is -ef", () => {
    expect(psArguments(undefined)).toEqual(["-ef"]);
    expect(psArguments("  ")).toEqual(["-ef"]);
    expect(psArguments("-o pid,comm")).toEqual(["-o", "pid,comm"]);
  });
});
