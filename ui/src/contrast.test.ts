// The design tokens in styles.css, read as the webview reads them: every text colour the rules
// put on a background must reach WCAG AA (4.5:1) in both themes, every control outline, focus
// ring, banner edge and meter fill 3:1 (WCAG 1.4.11), and no colour may be written outside the
// two token blocks — a hard-coded colour is how the dark theme ended up with unreadable warnings.
import { describe, expect, it } from "vitest";
import css from "./styles.css?raw";

type Rgb = [number, number, number];
type Theme = "light" | "dark";
type Paint = { rgb: Rgb; alpha: number; token: string };

interface Rule {
  selector: string;
  parents: string[];
  declarations: Map<string, string>;
}

/** Every innermost `selector { … }` block, with the at-rules it sits in. */
function parse(source: string): Rule[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "");
  const rules: Rule[] = [];
  const open: { selector: string; bodyStart: number; hasChild: boolean }[] = [];
  let boundary = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "{") {
      const parent = open.at(-1);
      if (parent) parent.hasChild = true;
      open.push({ selector: text.slice(boundary, i).trim(), bodyStart: i + 1, hasChild: false });
      boundary = i + 1;
    } else if (text[i] === "}") {
      const block = open.pop();
      if (block && !block.hasChild) {
        const declarations = new Map<string, string>();
        for (const part of text.slice(block.bodyStart, i).split(";")) {
          const colon = part.indexOf(":");
          if (colon > 0) {
            declarations.set(part.slice(0, colon).trim(), part.slice(colon + 1).trim());
          }
        }
        rules.push({
          selector: block.selector,
          parents: open.map((b) => b.selector),
          declarations,
        });
      }
      boundary = i + 1;
    }
  }
  return rules;
}

const rules = parse(css);
const DARK = "@media (prefers-color-scheme: dark)";
const isTokenBlock = (rule: Rule) =>
  rule.selector === ":root" && (rule.parents.length === 0 || rule.parents.join() === DARK);

function tokens(theme: Theme): Map<string, string> {
  const found = new Map<string, string>();
  for (const rule of rules.filter(isTokenBlock)) {
    if (theme === "light" && rule.parents.length > 0) continue;
    for (const [name, value] of rule.declarations) {
      if (name.startsWith("--")) found.set(name, value);
    }
  }
  return found;
}

function hex(value: string): Rgb {
  const match = /^#([0-9a-f]{6})$/i.exec(value.trim());
  if (!match?.[1]) throw new Error(`token value ${value} is not a #rrggbb colour`);
  const n = Number.parseInt(match[1], 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** The colour a `var(--x)` or `color-mix(in srgb, var(--x) N%, transparent)` value paints. */
function paint(value: string, theme: Theme): Paint | undefined {
  const set = tokens(theme);
  const resolve = (name: string): Paint => {
    const raw = set.get(name);
    if (raw === undefined) throw new Error(`${name} is used but not defined in the ${theme} theme`);
    const alias = /^var\((--[\w-]+)\)$/.exec(raw);
    return alias?.[1] ? resolve(alias[1]) : { rgb: hex(raw), alpha: 1, token: name };
  };
  const mix = /^color-mix\(in srgb, var\((--[\w-]+)\) (\d+)%, transparent\)$/.exec(value);
  if (mix?.[1] && mix[2]) {
    return { ...resolve(mix[1]), alpha: Number(mix[2]) / 100, token: `${mix[1]} ${mix[2]}%` };
  }
  const plain = /var\((--[\w-]+)\)/.exec(value);
  return plain?.[1] ? resolve(plain[1]) : undefined;
}

function over(top: Paint, under: Paint): Paint {
  const rgb = top.rgb.map((c, i) => c * top.alpha + (under.rgb[i] ?? 0) * (1 - top.alpha)) as Rgb;
  return { rgb, alpha: 1, token: `${top.token} over ${under.token}` };
}

function luminance([r, g, b]: Rgb): number {
  const linear = (c: number) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
}

function contrast(a: Paint, b: Paint): number {
  const [hi, lo] = [luminance(a.rgb), luminance(b.rgb)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** Backgrounds that carry no text: meters and bars. */
const GRAPHIC = new Set(["--track", "--fill", "--fill-strong"]);
/** Colours that draw shapes, not text (WCAG 1.4.11 asks 3:1 of them against what is beside). */
const NON_TEXT = [
  "--border-strong",
  "--focus",
  "--warning-edge",
  "--info-edge",
  "--fill",
  "--fill-strong",
];

interface Pair {
  rule: string;
  text: string;
  background: string;
  ratio: number;
}

/** Every text colour on every background the rules put it on, in one theme. */
function textPairs(theme: Theme): Pair[] {
  const token = (name: string) => paint(`var(${name})`, theme) as Paint;
  const pageBackgrounds = [token("--bg"), token("--surface")];
  const pairs: Pair[] = [];
  for (const rule of rules.filter((r) => !isTokenBlock(r))) {
    const color = rule.declarations.get("color");
    const fill = rule.declarations.get("background") ?? rule.declarations.get("background-color");
    const background = fill === undefined ? undefined : paint(fill, theme);
    if (background && GRAPHIC.has(background.token)) continue;
    const text = color === undefined || color === "inherit" ? undefined : paint(color, theme);
    if (!text && !background) continue;
    const grounds =
      background === undefined
        ? pageBackgrounds
        : background.alpha < 1
          ? pageBackgrounds.map((page) => over(background, page))
          : [background];
    for (const ground of grounds) {
      const ink = text ?? token("--fg");
      pairs.push({
        rule: rule.selector,
        text: ink.token,
        background: ground.token,
        ratio: contrast(ink, ground),
      });
    }
  }
  return pairs;
}

describe.each(["light", "dark"] as const)("the %s theme", (theme) => {
  it("defines every colour token as #rrggbb, the same set as the other theme", () => {
    const names = (t: Theme) =>
      [...tokens(t).entries()]
        .filter(([, value]) => value.startsWith("#"))
        .map(([name]) => name)
        .sort();
    expect(names(theme)).toEqual(names("light"));
    expect(names(theme).length).toBeGreaterThan(10);
  });

  it("gives every text at least 4.5:1 against what it is drawn on", () => {
    const pairs = textPairs(theme);
    // The rules were read: the page text, banners, buttons and highlights are all among them.
    expect(pairs.length).toBeGreaterThan(40);
    for (const selector of [".warning", "button.primary", "button.danger", ".health-fair"]) {
      expect(pairs.some((p) => p.rule === selector)).toBe(true);
    }
    const failing = pairs.filter((p) => p.ratio < 4.5);
    expect(
      failing.map((p) => `${p.rule}: ${p.text} on ${p.background} is ${p.ratio.toFixed(2)}:1`),
    ).toEqual([]);
  });

  it("draws outlines, the focus ring, banner edges and meters at least 3:1 against the page", () => {
    const token = (name: string) => paint(`var(${name})`, theme) as Paint;
    const failing: string[] = [];
    for (const name of NON_TEXT) {
      for (const page of ["--bg", "--surface"]) {
        const ratio = contrast(token(name), token(page));
        if (ratio < 3) failing.push(`${name} on ${page} is ${ratio.toFixed(2)}:1`);
      }
    }
    expect(failing).toEqual([]);
  });
});

describe("colours outside the tokens", () => {
  const literal =
    /#[0-9a-f]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(|\b(?:white|black|red|green|blue|yellow|orange|gray|grey|silver)\b/i;

  it("are never written in a rule of styles.css", () => {
    const written = rules
      .filter((rule) => !isTokenBlock(rule))
      .flatMap((rule) =>
        [...rule.declarations]
          .filter(([property, value]) => !property.startsWith("--") && literal.test(value))
          .map(([property, value]) => `${rule.selector} { ${property}: ${value} }`),
      );
    expect(written).toEqual([]);
  });

  it("are never written in a component's markup", () => {
    const sources = import.meta.glob<string>(["./*.tsx", "!./*.test.tsx"], {
      query: "?raw",
      import: "default",
      eager: true,
    });
    expect(Object.keys(sources).length).toBeGreaterThan(5);
    const written = Object.entries(sources).flatMap(([file, source]) =>
      source
        .split("\n")
        .filter((line) => /style=|color|background/.test(line) && literal.test(line))
        .map((line) => `${file}: ${line.trim()}`),
    );
    expect(written).toEqual([]);
  });
});
