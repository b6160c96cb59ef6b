/**
 * The part of docker's Go-template `--format` that scripts use: text with `{{.Field.Sub}}`
 * (the value; objects and lists as JSON, null as `<nil>`), `{{json .Field}}` / `{{json .}}`
 * (JSON), and `\n` / `\t` escapes. Anything else inside `{{ }}` is refused when the template
 * is compiled, so a typo fails before any call; a field that is not there fails at render.
 */
export type CompiledTemplate = (value: unknown) => string;

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

type Part = { text: string } | { path: string[]; json: boolean; source: string };

const ACTION = /^\s*(json\s+)?\.((?:[A-Za-z_][A-Za-z0-9_]*)(?:\.[A-Za-z_][A-Za-z0-9_]*)*)?\s*$/;

/** True when `format` should be read as a template rather than a format name. */
export function isTemplate(format: string): boolean {
  return format.includes("{{");
}

export function compileTemplate(template: string): CompiledTemplate {
  const parts: Part[] = [];
  let rest = template.replace(/\\n/g, "\n").replace(/\\t/g, "\t");
  while (rest.length > 0) {
    const open = rest.indexOf("{{");
    if (open === -1) {
      parts.push({ text: rest });
      break;
    }
    if (open > 0) parts.push({ text: rest.slice(0, open) });
    const close = rest.indexOf("}}", open);
    if (close === -1) throw new TemplateError(`template: unclosed action in ${JSON.stringify(template)}`);
    const source = rest.slice(open + 2, close);
    const m = ACTION.exec(source);
    if (m === null) {
      throw new TemplateError(`template: unsupported action {{${source}}}: use {{.Field.Sub}} or {{json .Field}}`);
    }
    parts.push({ path: m[2] === undefined ? [] : m[2].split("."), json: m[1] !== undefined, source });
    rest = rest.slice(close + 2);
  }
  return (value) =>
    parts
      .map((part) => {
        if ("text" in part) return part.text;
        let current: unknown = value;
        for (const key of part.path) {
          if (current === null || typeof current !== "object" || !(key in current)) {
            throw new TemplateError(`template: {{${part.source}}}: no field "${key}"`);
          }
          current = (current as Record<string, unknown>)[key];
        }
        if (part.json) return JSON.stringify(current);
        if (current === null || current === undefined) return "<nil>";
        return typeof current === "object" ? JSON.stringify(current) : String(current);
      })
      .join("");
}
