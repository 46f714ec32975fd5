// End-to-end tests of the page in Debian's headless Chromium, driven by playwright-core (which
// downloads no browser). Serves dist/ (build it first: `bash scripts/build-page.sh`) under a
// sub-path and runs the scenarios below; exits non-zero when one fails.
//
//   node tests/e2e/run.mjs [--only NAME[,NAME...]] [--dist DIR]
//
// Environment: CHROMIUM (default /usr/bin/chromium), E2E_ARTIFACTS (screenshots and report;
// default tests/e2e/artifacts), E2E_WEBGPU (auto: also run the WebGPU scenarios when the flagged
// browser offers an adapter; 1: require them; 0: skip them).
//
// Nothing here knows the built-in model's sizes: the model's name, a layer and its unit count
// are read from the page.

import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { chromium } from "playwright-core";
import { serve } from "./server.mjs";
import { surveyFiles, surveyScenarios } from "./survey.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const DIST = path.resolve(ROOT, opt("--dist") ?? "dist");
const ONLY = opt("--only")?.split(",");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = path.resolve(ROOT, process.env.E2E_ARTIFACTS ?? "tests/e2e/artifacts");
const WEBGPU = process.env.E2E_WEBGPU ?? "auto";
const PREFIX = "/modalscope/";
const RENDER_TIMEOUT = 240_000;
// The neuron every backend renders: short, so SwiftShader's WebGPU finishes it too.
const STEPS = 16;
const SIZE = 64;

// No network, no GPU process (SwiftShader's WebGPU runs without one), a fresh profile per browser.
const BASE_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
  "--disable-gpu",
];
// What Chromium needs to offer WebGPU without a GPU: a SwiftShader (CPU) adapter.
export const WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader"];

export class Failure extends Error {}
let cpuNeuronHash;
let cpuAttackProbs;
export function check(ok, message) {
  if (!ok) throw new Failure(message);
}

export async function launch(extra) {
  const profile = mkdtempSync(path.join(os.tmpdir(), "modalscope-e2e-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...BASE_FLAGS, ...extra],
    viewport: { width: 1000, height: 800 },
    acceptDownloads: true,
    timeout: 60_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** A fresh page that records uncaught errors and console errors. */
export async function newPage(context) {
  const page = await context.newPage();
  page.problems = [];
  page.consoleLines = [];
  page.on("pageerror", (e) => page.problems.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    page.consoleLines.push(`${m.type()}: ${m.text()}`);
  });
  return page;
}

/** Pixels of a canvas (the feature visualization by default). */
export async function canvasPixels(page, selector = "#fv-canvas") {
  return page.$eval(selector, (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    return { width: c.width, height: c.height, data: Array.from(d) };
  });
}

export function pixelStats({ width, height, data }) {
  let min = 255;
  let max = 0;
  let opaque = 0;
  const distinct = new Set();
  for (let i = 0; i < data.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      min = Math.min(min, data[i + c]);
      max = Math.max(max, data[i + c]);
    }
    if (data[i + 3] === 255) opaque++;
    distinct.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  const hash = createHash("sha256").update(Buffer.from(data)).digest("hex").slice(0, 16);
  return { width, height, min, max, opaque, colors: distinct.size, hash };
}

function checkImage(stats, width = SIZE, height = SIZE) {
  const n = width * height;
  check(stats.width === width && stats.height === height, `the canvas is ${stats.width}x${stats.height}, not ${width}x${height}`);
  check(stats.opaque === n, `only ${stats.opaque} of ${n} pixels are opaque (blank canvas?)`);
  check(stats.max - stats.min > 32, `the image is (nearly) constant: values ${stats.min}..${stats.max}`);
  check(stats.colors > Math.min(256, n / 8), `the image has only ${stats.colors} colours`);
}

async function waitForRender(page, states = ["done"]) {
  await page.waitForFunction(
    (states) => {
      const c = document.getElementById("fv-canvas");
      return c && states.includes(c.dataset.state);
    },
    states,
    { timeout: RENDER_TIMEOUT, polling: 100 },
  );
  return page.evaluate(() => document.getElementById("fv-canvas").dataset.state);
}

async function backend(page) {
  await page.waitForSelector(
    '#backend-note[data-backend="cpu"], #backend-note[data-backend="webgpu"], #backend-note[data-backend="failed"]',
    { timeout: 120_000 },
  );
  return page.evaluate(() => {
    const n = document.getElementById("backend-note");
    return { kind: n.dataset.backend, text: n.textContent };
  });
}

/** Reads the model from the home page: its name and a layer with a spatial grid. */
async function readModel(page, url) {
  await page.goto(url);
  await page.waitForSelector("#layers li", { timeout: 120_000 });
  const name = await page.textContent("#model-name");
  const layers = await page.$$eval("#layers li", (lis) =>
    lis.map((li) => {
      const name = li.querySelector("a").textContent;
      const m = li.querySelector("span").textContent.match(/^(\d+) units · (\d+)×(\d+)$/);
      return { name, units: Number(m[1]), grid: [Number(m[2]), Number(m[3])] };
    }),
  );
  const spatial = layers.filter((l) => l.grid[0] > 1);
  // Layers of neurons: a ViT's MLPs, a ResNet's blocks (as modalscope_model::is_neuron_layer).
  const neurons = (l) => /^vision\.(blocks\.\d+\.mlp$|layer\d)/.test(l.name);
  const layer = spatial.find(neurons) ?? spatial[0] ?? layers[0];
  // The analyses' layer: the image tower's last layer of neurons.
  const mlp = layers.filter(neurons).at(-1) ?? layer;
  return { name, layers, layer, mlp };
}

async function renderNeuron(env, page, link) {
  const started = Date.now();
  await page.goto(env.url + link);
  const seen = new Set();
  // Record the states the canvas goes through (progress must show before done).
  await page.exposeFunction("__state", (s) => seen.add(s)).catch(() => {});
  await page.evaluate(() => {
    const c = () => document.getElementById("fv-canvas");
    const tick = () => {
      if (c()) window.__state(`${c().dataset.state}:${c().dataset.step}`);
      if (!c() || c().dataset.state !== "done") setTimeout(tick, 50);
    };
    tick();
  });
  const state = await waitForRender(page, ["done", "error", "cancelled"]);
  const status = await page.textContent("#fv-status");
  const error = await page.$("#fv-error");
  check(state === "done", `the render ended as ${state}: ${status} ${error ? await error.textContent() : ""}`);
  const b = await backend(page);
  check(b.kind === env.expectBackend, `expected the ${env.expectBackend} backend, the note says: ${b.text}`);
  const stats = pixelStats(await canvasPixels(page));
  const running = [...seen].filter((s) => s.startsWith("running:"));
  return { stats, status, backend: b, running, seconds: (Date.now() - started) / 1000 };
}

async function expectMessage(env, page, link, needle) {
  await page.goto(env.url + link);
  // A new hash re-renders without a reload: wait for the message that fits this link.
  const found = await page
    .waitForFunction(
      (needle) => document.getElementById("page-message")?.textContent.includes(needle),
      needle,
      { timeout: 120_000, polling: 100 },
    )
    .then(() => true)
    .catch(() => false);
  const text = await page.evaluate(() => document.getElementById("page-message")?.textContent ?? "(no message)");
  check(found, `the message for ${link} is "${text}", which lacks "${needle}"`);
  check((await page.$("#fv-canvas")) === null, `a canvas is shown for the bad link ${link}`);
  return text;
}

/** Waits for the analysis view to end (a job other than `after`, if given); returns its state and the worker's time. */
async function waitForAnalysis(page, { after } = {}) {
  const states = ["done", "error", "cancelled"];
  await page.waitForFunction(
    ({ states, after }) => {
      const s = document.getElementById("analysis-status");
      // A job other than `after` (the one shown before the step that starts a new one): until
      // the new view replaces the old, the old job's status is still on the page.
      return s && states.includes(s.dataset.state) && (after === undefined || (s.dataset.job !== undefined && s.dataset.job !== after));
    },
    { states, after },
    { timeout: RENDER_TIMEOUT, polling: 100 },
  );
  return page.evaluate(() => {
    const s = document.getElementById("analysis-status");
    return {
      state: s.dataset.state,
      ms: Number(s.dataset.elapsedMs ?? NaN),
      stage: document.getElementById("analysis-stage")?.textContent,
      error: document.getElementById("analysis-error")?.textContent,
    };
  });
}

/** The job the analysis status shows now ("" when none), for `waitForAnalysis`'s `after`. */
async function shownJob(page) {
  return page.evaluate(() => document.getElementById("analysis-status")?.dataset.job ?? "");
}

/** Opens an analysis link and records the states and progress it shows until it ends. */
async function runAnalysis(env, page, link) {
  const started = Date.now();
  const before = await shownJob(page);
  await page.goto(env.url + link);
  await page.waitForSelector("#analysis-status", { timeout: 120_000 });
  const seen = await page.evaluate(
    (before) =>
      new Promise((resolve) => {
        const seen = new Set();
        const tick = () => {
          const s = document.getElementById("analysis-status");
          const p = document.getElementById("analysis-progress");
          const fresh = s && s.dataset.job !== undefined && s.dataset.job !== before;
          if (fresh) seen.add(`${s.dataset.state}:${p ? Math.round((100 * p.value) / p.max) : ""}`);
          if (fresh && ["done", "error", "cancelled"].includes(s.dataset.state)) resolve([...seen]);
          else setTimeout(tick, 50);
        };
        tick();
      }),
    before,
  );
  const end = await waitForAnalysis(page, { after: before });
  check(end.state === "done", `${link} ended as ${end.state}: ${end.stage} ${end.error ?? ""}`);
  return { ...end, seen, seconds: (Date.now() - started) / 1000 };
}

/** Whether the canvases matching `selector` all show a picture (not blank). */
async function canvasesPainted(page, selector) {
  const stats = await page.$$eval(selector, (cs) =>
    cs.map((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let min = 255;
      let max = 0;
      for (let i = 0; i < d.length; i += 4) {
        min = Math.min(min, d[i], d[i + 1], d[i + 2]);
        max = Math.max(max, d[i], d[i + 1], d[i + 2]);
      }
      return max - min;
    }),
  );
  return { count: stats.length, painted: stats.filter((r) => r > 16).length };
}

const modelsUrl = (env, file) => `${env.url}models/${file}`;
const srcHash = (url) => `#/?src=${encodeURIComponent(url)}`;

// ---------------------------------------------------------------------------------------------
// Scenarios. Each gets { context, url, model, shot(page, name), log(...) } and throws on failure.

const scenarios = [
  {
    name: "home",
    async run(env) {
      const page = await newPage(env.context);
      const { name, layers, layer } = env.model;
      await page.goto(env.url);
      const b = await backend(page);
      check(b.kind === env.expectBackend, `expected the ${env.expectBackend} backend; the note says: ${b.text}`);
      if (b.kind === "cpu") check(/WebGPU is not used: .+/.test(b.text), `the CPU note gives no reason: ${b.text}`);
      await page.waitForSelector("#model-name");
      check((await page.textContent("#model-name")) === name, "the model name changed between visits");
      const arch = await page.textContent("#model-architecture");
      check(/image tower/.test(arch), `the architecture says "${arch}"`);
      const source = await page.textContent("#model-source");
      check(source.includes("built into the page") && /vocabulary words/.test(source), `the source line says "${source}"`);
      check(layers.length > 3, `only ${layers.length} layers are listed`);
      check(layers.every((l) => l.name.startsWith("vision.")), "the layer list has non-image layers");
      check((await page.$("#model-url")) !== null, "there is no field to open a model from a URL");
      await env.shot(page, "home");
      // Follow the links: layer, then a unit.
      await page.click(`#layers a:text-is("${layer.name}")`);
      await page.waitForSelector("#layer-name");
      const units = await page.$$eval("#units .unit-cell", (as) => as.length);
      check(units === layer.units, `the layer page lists ${units} units, not ${layer.units}`);
      await page.click('#units .unit-cell[data-unit="3"]');
      const hash = await page.evaluate(() => location.hash);
      check(hash === `#/${name}/${layer.name}/3`, `the unit link leads to ${hash}`);
      await page.waitForSelector("#fv-canvas");
      // The trail above the card leads back to the model and to the layer.
      const crumbs = await page.$$eval("nav.crumbs > *", (es) => es.map((e) => [e.tagName, e.textContent, e.getAttribute("href")]));
      const expected = [
        ["A", name, "#/"],
        ["A", layer.name, `#/${name}/${layer.name}`],
        ["SPAN", "unit 3", null],
      ];
      check(JSON.stringify(crumbs) === JSON.stringify(expected), `the crumbs are ${JSON.stringify(crumbs)}`);
      // Leaving the neuron page mid-render must not break anything.
      await page.evaluate(() => (location.hash = "#/"));
      await page.waitForSelector("#model-name");
      env.log(`backend: ${b.text}`);
      env.log(`${name}: ${layers.length} layers; testing ${layer.name} (${layer.units} units, ${layer.grid.join("×")})`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "thumbnails",
    async run(env) {
      const page = await newPage(env.context);
      const { name, layer } = env.model;
      const t0 = Date.now();
      await page.goto(`${env.url}#/${name}/${layer.name}`);
      await page.waitForSelector("#units .unit-cell");
      // The first thumbnails come; cells far below the fold are not asked for.
      await page.waitForFunction(() => document.querySelectorAll('.unit-cell[data-thumb="done"]').length >= 4, null, {
        timeout: RENDER_TIMEOUT,
        polling: 200,
      });
      const firstMs = Date.now() - t0;
      // A finished thumbnail leaves its cell's tooltip ("unit N") to show.
      const tips = await page.$eval('.unit-cell[data-thumb="done"]', (c) => [c.title, c.querySelector("canvas")?.hasAttribute("title")]);
      check(/^unit \d+$/.test(tips[0]) && tips[1] === false, `a finished cell's tooltip: ${JSON.stringify(tips)}`);
      const counts = () =>
        page.$$eval(".unit-cell", (cs) => {
          const n = {};
          for (const c of cs) n[c.dataset.thumb] = (n[c.dataset.thumb] ?? 0) + 1;
          return n;
        });
      const before = await counts();
      // (A layer small enough to fit the window has every cell in view.)
      if (layer.units > 300) check((before.idle ?? 0) > 0, `every cell was asked for at once, not lazily: ${JSON.stringify(before)}`);
      const thumb = pixelStats(await canvasPixels(page, '.unit-cell[data-thumb="done"] canvas'));
      check(thumb.max - thumb.min > 16 && thumb.colors > 32, `a thumbnail is (nearly) blank: ${JSON.stringify(thumb)}`);
      await env.shot(page, "layer", false);
      // Scrolling to the end asks for the last cells and drops what scrolled away.
      const last = layer.units - 1;
      await page.$eval(`.unit-cell[data-unit="${last}"]`, (c) => c.scrollIntoView());
      await page.waitForFunction(
        (last) => ["queued", "done"].includes(document.querySelector(`.unit-cell[data-unit="${last}"]`).dataset.thumb),
        last,
        { timeout: 30_000, polling: 100 },
      );
      const after = await counts();
      env.log(`first 4 thumbnails after ${(firstMs / 1000).toFixed(1)} s; before scrolling ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "neuron",
    async run(env) {
      const page = await newPage(env.context);
      const r = await renderNeuron(env, page, env.neuron);
      checkImage(r.stats);
      check(r.running.length > 0, "no progress report was shown before the render finished");
      check(new RegExp(`^done: ${STEPS} steps`).test(r.status), `the status says "${r.status}"`);
      const progress = await page.$eval("#fv-progress", (p) => [p.value, p.max]);
      check(progress[0] === STEPS && progress[1] === STEPS, `the progress bar shows ${progress}`);
      // The words that drive it (text-tower probe).
      const tWords = Date.now();
      await page.waitForSelector("#words li, #words-error, #words-none", { timeout: 120_000 });
      env.log(`words ${((Date.now() - tWords) / 1000).toFixed(1)} s after the image`);
      const wordsError = await page.$("#words-error");
      check(wordsError === null, `the word probe failed: ${wordsError && (await wordsError.textContent())}`);
      const words = await page.$$eval("#words li", (lis) =>
        lis.map((li) => [li.querySelector(".word").textContent, Number(li.querySelector(".score").textContent)]),
      );
      check(words.length >= 5, `only ${words.length} words are shown`);
      check(words.every(([w, s]) => w.length > 0 && s >= -1 && s <= 1), `odd words: ${JSON.stringify(words)}`);
      for (let i = 1; i < words.length; i++) check(words[i - 1][1] >= words[i][1], `the words are not sorted: ${JSON.stringify(words)}`);
      // The written words that drive it (rendered-text probe), run in the worker once the
      // image is done.
      const tRead = Date.now();
      await page.waitForSelector("#read-words li, #analysis-error", { timeout: 180_000 });
      const readError = await page.$("#analysis-error");
      check(readError === null, `the rendered-text probe failed: ${readError && (await readError.textContent())}`);
      const read = await page.$$eval("#read-words li", (lis) =>
        lis.map((li) => [li.querySelector(".word").textContent, Number(li.querySelector(".score").textContent.replace("σ", ""))]),
      );
      const vocabulary = Number(await page.getAttribute("#read-words", "data-vocabulary"));
      check(read.length >= 5 && vocabulary >= read.length, `only ${read.length} written words of ${vocabulary} are shown`);
      check(read.every(([w, z]) => /^[a-z]+$/i.test(w) && Number.isFinite(z)), `odd written words: ${JSON.stringify(read)}`);
      check(new Set(read.map(([w]) => w)).size === read.length, `a written word is listed twice: ${JSON.stringify(read)}`);
      for (let i = 1; i < read.length; i++) check(read[i - 1][1] >= read[i][1], `the written words are not sorted: ${JSON.stringify(read)}`);
      const lettering = pixelStats(await canvasPixels(page, "#read-words li canvas"));
      check(lettering.max - lettering.min > 64, `a lettering is blank: ${JSON.stringify(lettering)}`);
      env.log(`written words ${((Date.now() - tRead) / 1000).toFixed(1)} s after the text-tower words (${vocabulary} words): ${read.map(([w, z]) => `${w} ${z}`).join(", ")}`);
      const tShot = Date.now();
      await env.shot(page, "neuron");
      env.log(`screenshot in ${((Date.now() - tShot) / 1000).toFixed(1)} s`);
      if (env.expectBackend === "cpu") {
        // PNG download: the canvas' pixels as a PNG file.
        const tDownload = Date.now();
        const [download] = await Promise.all([page.waitForEvent("download"), page.click("#fv-download")]);
        const file = path.join(ARTIFACTS, "download.png");
        await download.saveAs(file);
        const png = readFileSync(file);
        check(png.subarray(1, 4).toString() === "PNG", "the download is not a PNG");
        check(png.readUInt32BE(16) === SIZE && png.readUInt32BE(20) === SIZE, `the PNG is ${png.readUInt32BE(16)}x${png.readUInt32BE(20)}`);
        env.log(`download: ${download.suggestedFilename()} (${png.length} bytes, ${((Date.now() - tDownload) / 1000).toFixed(1)} s)`);
        // Embed code.
        const tEmbed = Date.now();
        await page.click("#fv-embed");
        const code = await (await page.waitForSelector("#embed-code")).inputValue();
        const src = code.match(/<iframe src="([^"]+)"/)?.[1] ?? "";
        const u = new URL(src.replaceAll("&amp;", "&"));
        check(u.pathname === PREFIX && u.search === "?embed=true" && u.hash === env.neuron, `the embed code is ${code}`);
        env.log(`embed code (${((Date.now() - tEmbed) / 1000).toFixed(1)} s): ${code}`);
        env.log(`words: ${words.map(([w, s]) => `${w} ${s}`).join(", ")}`);
        const link = await page.getAttribute("#fv-link", "href");
        check(link === env.neuron, `the permalink is ${link}`);
      }
      env.log(`${r.status} (${r.seconds.toFixed(1)} s in the test); ${r.running.length} progress states seen`);
      env.log(`pixels: ${JSON.stringify(r.stats)}`);
      env.results.neuron = r.stats;
      if (cpuNeuronHash && env.expectBackend !== "cpu") {
        env.log(`the same pixels as on the CPU: ${r.stats.hash === cpuNeuronHash ? "yes" : "no"}`);
      }
      if (env.expectBackend === "cpu") cpuNeuronHash = r.stats.hash;
      check(page.problems.length === 0, page.problems.join("\n"));
      const tClose = Date.now();
      await page.close();
      env.log(`closed in ${((Date.now() - tClose) / 1000).toFixed(1)} s`);
    },
  },
  {
    name: "deterministic",
    async run(env) {
      const hashes = [];
      for (let i = 0; i < 2; i++) {
        const page = await newPage(env.context);
        const r = await renderNeuron(env, page, env.neuron);
        checkImage(r.stats);
        hashes.push(r.stats.hash);
        await page.close();
      }
      check(hashes[0] === hashes[1], `two fresh pages rendered different pixels: ${hashes.join(" vs ")}`);
      if (env.results.neuron) {
        check(env.results.neuron.hash === hashes[0], "the render differs from the neuron scenario's");
      }
      // Another seed gives another image.
      const page = await newPage(env.context);
      const other = await renderNeuron(env, page, env.neuron.replace("seed=1", "seed=2"));
      check(other.stats.hash !== hashes[0], "seed 2 rendered the same pixels as seed 1");
      await page.close();
      env.log(`pixel hash ${hashes[0]} twice; seed 2 gives ${other.stats.hash}`);
    },
  },
  {
    name: "facets",
    async run(env) {
      const page = await newPage(env.context);
      const { name, layer } = env.model;
      const r = await renderNeuron(env, page, `#/${name}/${layer.name}/5?steps=8&seed=3&facets=3`);
      checkImage(r.stats, 3 * SIZE, SIZE);
      const tiles = await page.$eval("#fv-canvas", (c) => {
        const ctx = c.getContext("2d");
        const h = c.height;
        return [0, 1, 2].map((i) => Array.from(ctx.getImageData(i * h, 0, h, h).data).join(","));
      });
      check(new Set(tiles).size === 3, "the facets are not all different");
      await env.shot(page, "facets");
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "bad-links",
    async run(env) {
      const page = await newPage(env.context);
      const { name, layer, layers } = env.model;
      const cases = [
        ["unknown-layer", `#/${name}/vision.blocks.999.mlp/1`, "no image-tower layer `vision.blocks.999.mlp`"],
        ["unit-out-of-range", `#/${name}/${layer.name}/${layer.units}`, `there is no unit ${layer.units}`],
        ["unknown-model", `#/clip-vit-nothing/${layer.name}/1`, "no model `clip-vit-nothing`"],
        ["not-a-unit", `#/${name}/${layer.name}/seven`, "not a unit number"],
        ["bad-setting", `#/${name}/${layer.name}/1?steps=0`, "steps"],
        ["text-layer", `#/${name}/text.blocks.0.mlp/1`, "text tower"],
        ["unknown-layer-page", `#/${name}/vision.nothing`, "no image-tower layer"],
        ["bad-src", `#/?src=${encodeURIComponent("javascript:alert(1)")}`, "only http and https"],
      ];
      for (const [label, link, needle] of cases) {
        const text = await expectMessage(env, page, link, needle);
        await env.shot(page, `bad-link-${label}`);
        env.log(`${label}: ${text}`);
      }
      check(layers.length > 0, "no layers");
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "embed",
    async run(env) {
      const page = await newPage(env.context);
      const { name, layer } = env.model;
      const link = `#/${name}/${layer.name}/7?seed=2&steps=${STEPS}`;
      await page.setViewportSize({ width: 320, height: 460 });
      await page.goto(`${env.url}?embed=true${link}`);
      await page.waitForSelector("main.embed #neuron-card");
      check((await page.$(".top")) === null, "the embedded page shows the page header");
      check((await page.$("#backend-note")) === null, "the embedded page shows the backend note");
      check((await page.$("footer")) === null, "the embedded page shows the footer");
      const href = await page.getAttribute("#open-full", "href");
      const back = new URL(href, env.url);
      check(back.pathname === PREFIX && back.search === "", `the link back is ${href}`);
      check(back.hash === link, `the link back is ${href}, not to ${link}`);
      const state = await waitForRender(page, ["done", "error"]);
      check(state === "done", `the embedded render ended as ${state}`);
      checkImage(pixelStats(await canvasPixels(page)));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
      check(!overflow, "the embedded card is wider than a 320 px iframe");
      await env.shot(page, "embed");
      // A bad embedded link still says what is wrong.
      await expectMessage(env, page, `?embed=true#/${name}/${layer.name}/99999`, "no unit 99999");
      await env.shot(page, "embed-bad-link");
      env.log(`link back: ${href}`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "row",
    async run(env) {
      const { name, layer } = env.model;
      // The neuron scenario's unit (7, same seed and steps) between two others.
      const [single, query] = env.neuron.split("?");
      const unit = Number(single.split("/").at(-1));
      const units = [3, unit, 12].filter((u) => u < layer.units);
      check(units.length === 3, `${layer.name} has too few units (${layer.units}) for a row of 3`);
      const link = `#/${name}/${layer.name}/${units.join(",")}?${query}`;
      const cardStates = (page) => page.$$eval("#row canvas", (cs) => cs.map((c) => `${c.dataset.unit}:${c.dataset.state}`));
      // The layer page links to a row of its first units.
      const page = await newPage(env.context);
      await page.goto(`${env.url}#/${name}/${layer.name}`);
      const rowHref = await (await page.waitForSelector("#layer-row")).getAttribute("href");
      const first = Math.min(8, layer.units);
      check(rowHref === `#/${name}/${layer.name}/0-${first - 1}`, `the layer page's row link is ${rowHref}`);
      // The full page: the cards are rendered one after another.
      await page.goto(env.url + link);
      await page.waitForSelector("#row canvas");
      const seen = await page.evaluate(
        () =>
          new Promise((resolve) => {
            const seen = [];
            const tick = () => {
              const states = [...document.querySelectorAll("#row canvas")].map((c) => c.dataset.state);
              const line = states.join(",");
              if (seen.at(-1) !== line) seen.push(line);
              if (states.every((s) => ["done", "error", "cancelled", "skipped"].includes(s))) resolve(seen);
              else setTimeout(tick, 20);
            };
            tick();
          }),
      );
      const end = await cardStates(page);
      check(end.every((s) => s.endsWith(":done")), `the row ended as ${end.join(" ")}`);
      for (const line of seen) {
        const busy = line.split(",").filter((s) => s === "running" || s === "starting").length;
        check(busy <= 1, `two cards rendered at once: ${line}`);
      }
      check(seen.some((l) => /^running,waiting,waiting$/.test(l)), `the first card did not show its progress alone: ${seen.join(" | ")}`);
      check(seen.some((l) => /^done,(running|starting),waiting$/.test(l)), `the second card did not follow the first: ${seen.join(" | ")}`);
      const statuses = await page.$$eval("#row .row-status", (ss) => ss.map((s) => s.textContent));
      check(statuses.every((s) => /^done in \d+\.\d s$/.test(s)), `the cards say ${statuses.join(", ")}`);
      const unitLinks = await page.$$eval("#row a.row-unit", (as) => as.map((a) => [a.getAttribute("href"), a.target]));
      for (const [i, [href, target]] of unitLinks.entries()) {
        check(href === `#/${name}/${layer.name}/${units[i]}?${query}` && target === "", `card ${i} links to ${href} (target ${target})`);
      }
      check((await page.getAttribute("#row-link", "href")) === link, "the row's permalink is not its link");
      // Its embed code: an iframe of the embedded row, sized for it.
      await page.click("#row-embed");
      const code = await (await page.waitForSelector("#embed-code")).inputValue();
      const src = code.match(/<iframe src="([^"]+)"/)?.[1] ?? "";
      const u = new URL(src.replaceAll("&amp;", "&"));
      check(u.pathname === PREFIX && u.search === "?embed=true" && u.hash === link, `the embed code is ${code}`);
      const [width, height] = [/width="(\d+)"/, /height="(\d+)"/].map((r) => Number(code.match(r)?.[1]));
      check(width >= 3 * 128 && width < 700 && height > 128 && height < 400, `the iframe is ${width}x${height}`);
      await env.shot(page, "row");
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();

      // The embedded row in an iframe of that size: only the cards and a link back.
      const embedded = await newPage(env.context);
      await embedded.setViewportSize({ width, height });
      await embedded.goto(`${env.url}?embed=true${link}`);
      await embedded.waitForSelector("main.embed #row-card");
      check((await embedded.$(".top")) === null && (await embedded.$("footer")) === null, "the embedded row shows the page's header or footer");
      check((await embedded.$("#row-embed")) === null, "the embedded row offers its own embed code");
      await embedded.waitForFunction(
        () => {
          const cs = [...document.querySelectorAll("#row canvas")];
          return cs.length > 0 && cs.every((c) => ["done", "error", "cancelled", "skipped"].includes(c.dataset.state));
        },
        null,
        { timeout: RENDER_TIMEOUT, polling: 100 },
      );
      const states = await cardStates(embedded);
      check(states.join(" ") === units.map((u) => `${u}:done`).join(" "), `the embedded row ended as ${states.join(" ")}`);
      const hashes = [];
      for (const u of units) {
        const stats = pixelStats(await canvasPixels(embedded, `#row canvas[data-unit="${u}"]`));
        checkImage(stats);
        hashes.push(stats.hash);
      }
      check(new Set(hashes).size === units.length, `cards of different units have the same pixels: ${hashes.join(" ")}`);
      // The card of the neuron scenario's unit is that neuron's card, pixel for pixel.
      let singleHash = env.results.neuron?.hash;
      if (!singleHash) {
        const p = await newPage(env.context);
        const r = await renderNeuron(env, p, env.neuron);
        singleHash = r.stats.hash;
        await p.close();
      }
      check(hashes[1] === singleHash, `unit ${unit} in the row (${hashes[1]}) differs from its own card (${singleHash})`);
      const back = new URL(await embedded.getAttribute("#open-full", "href"));
      check(back.pathname === PREFIX && back.search === "" && back.hash === link, `the link back is ${back}`);
      check((await embedded.getAttribute("#open-full", "target")) === "_blank", "the link back opens in the iframe");
      const links = await embedded.$$eval("#row a.row-unit", (as) => as.map((a) => [new URL(a.href).hash, a.target]));
      check(
        links.every(([h, t], i) => h === `#/${name}/${layer.name}/${units[i]}?${query}` && t === "_blank"),
        `the embedded cards link to ${JSON.stringify(links)}`,
      );
      const overflow = await embedded.evaluate(() => {
        const d = document.documentElement;
        return [d.scrollWidth - window.innerWidth, d.scrollHeight - window.innerHeight];
      });
      check(overflow[0] <= 0 && overflow[1] <= 0, `the embedded row overflows its ${width}x${height} iframe by ${overflow}`);
      const top = await embedded.$$eval("#row canvas", (cs) => cs.map((c) => Math.round(c.getBoundingClientRect().top)));
      check(new Set(top).size === 1, `the cards are not on one line: tops ${top}`);
      await env.shot(embedded, "row-embed", false);
      await embedded.close();

      // The layer page's row (eight cards when the layer has them) in an iframe of the size
      // its embed code says: even lines, no scrolling.
      const many = await newPage(env.context);
      const manyLink = `${rowHref}?steps=2`;
      await many.goto(env.url + manyLink);
      await many.click("#row-embed");
      const manyCode = await (await many.waitForSelector("#embed-code")).inputValue();
      const manySize = [/width="(\d+)"/, /height="(\d+)"/].map((r) => Number(manyCode.match(r)?.[1]));
      await many.setViewportSize({ width: manySize[0], height: manySize[1] });
      await many.goto(`${env.url}?embed=true${manyLink}`);
      await many.waitForFunction(
        (n) => [...document.querySelectorAll("#row canvas")].filter((c) => c.dataset.state === "done").length === n,
        first,
        { timeout: RENDER_TIMEOUT, polling: 100 },
      );
      const manyOverflow = await many.evaluate(() => {
        const d = document.documentElement;
        return [d.scrollWidth - window.innerWidth, d.scrollHeight - window.innerHeight];
      });
      check(manyOverflow[0] <= 0 && manyOverflow[1] <= 0, `${first} cards overflow their ${manySize.join("x")} iframe by ${manyOverflow}`);
      const lines = await many.$$eval("#row canvas", (cs) => {
        const n = new Map();
        for (const c of cs) n.set(Math.round(c.getBoundingClientRect().top), (n.get(Math.round(c.getBoundingClientRect().top)) ?? 0) + 1);
        return [...n.values()];
      });
      check(Math.max(...lines) - Math.min(...lines) <= 1, `${first} cards lie on uneven lines: ${lines}`);
      await env.shot(many, "row-embed-many", false);
      env.log(`${first} cards: iframe ${manySize.join("x")}, lines of ${lines.join(" + ")}`);
      check(many.problems.length === 0, many.problems.join("\n"));
      await many.close();

      // Bad rows say what is wrong, embedded or not.
      const bad = await newPage(env.context);
      const cases = [
        ["not-numbers", `?embed=true#/${name}/${layer.name}/1,two,3`, "`two` in `1,two,3` is not a unit number"],
        ["too-many", `#/${name}/${layer.name}/0-8`, "more than 8 units"],
        ["repeated", `#/${name}/${layer.name}/4,2-5`, "names unit 4 twice"],
        ["empty", `#/${name}/${layer.name}/,`, "names no units"],
        ["out-of-range", `?embed=true#/${name}/${layer.name}/1,${layer.units}`, `there is no unit ${layer.units}`],
      ];
      for (const [label, badLink, needle] of cases) {
        const text = await expectMessage(env, bad, badLink, needle);
        check((await bad.$("#row canvas")) === null, `${label}: a card is shown`);
        if (label === "not-numbers" || label === "out-of-range") await env.shot(bad, `row-bad-${label}`);
        env.log(`${label}: ${text}`);
      }
      check(bad.problems.length === 0, bad.problems.join("\n"));
      await bad.close();

      // Cancel stops the row: the card under way says so, the ones after it are not rendered.
      const slow = await newPage(env.context);
      await slow.goto(`${env.url}#/${name}/${layer.name}/1,2?steps=2000`);
      await slow.waitForSelector('#row canvas[data-unit="1"][data-state="running"]', { timeout: 120_000 });
      await slow.click("#row-cancel");
      await slow.waitForSelector('#row canvas[data-unit="1"][data-state="cancelled"]', { timeout: 30_000 });
      const after = await cardStates(slow);
      check(after.join(" ") === "1:cancelled 2:skipped", `after a cancel the row is ${after.join(" ")}`);
      const said = await slow.$$eval("#row .row-status", (ss) => ss.map((s) => s.textContent));
      check(/^cancelled at step \d+$/.test(said[0]) && said[1] === "not rendered", `the cards say ${said.join(", ")}`);
      check(!(await slow.isDisabled("#row-restart")) && (await slow.isDisabled("#row-cancel")), "the buttons do not follow the cancel");
      await env.shot(slow, "row-cancelled");
      check(slow.problems.length === 0, slow.problems.join("\n"));
      await slow.close();
      env.log(`row ${link}: pixel hashes ${hashes.join(" ")} (unit ${unit} as its own card: ${singleHash}); embed code ${code}`);
      env.log(`states seen: ${seen.join(" | ")}`);
    },
  },
  {
    name: "cancel",
    async run(env) {
      const page = await newPage(env.context);
      const { name, layer } = env.model;
      // Long enough that it cannot finish first: a report every steps/32 steps.
      const steps = env.expectBackend === "webgpu" ? 400 : 2000;
      await page.goto(`${env.url}#/${name}/${layer.name}/11?steps=${steps}&size=${SIZE}`);
      await waitForRender(page, ["running"]);
      // The page stays responsive while the worker renders.
      const t0 = Date.now();
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
      const frameMs = Date.now() - t0;
      const stepAtCancel = Number(await page.getAttribute("#fv-canvas", "data-step"));
      const clicked = Date.now();
      await page.click("#fv-cancel");
      await waitForRender(page, ["cancelled"]);
      const cancelMs = Date.now() - clicked;
      const status = await page.textContent("#fv-status");
      check(new RegExp(`^cancelled at step \\d+ / ${steps}$`).test(status), `the status says "${status}"`);
      const stoppedAt = Number(status.match(/step (\d+)/)[1]);
      check(stoppedAt < steps, "the render ran to the end");
      check(cancelMs < 10_000, `cancelling took ${cancelMs} ms`);
      await env.shot(page, "cancel");
      // Render again works after a cancel, and a newer render replaces the running one.
      await page.click("#fv-restart");
      await waitForRender(page, ["running"]);
      await page.evaluate(() => (location.hash = location.hash.replace(/\/11\?.*/, "/12?steps=4")));
      const state = await waitForRender(page, ["done", "error"]);
      check(state === "done", `the render after a cancelled one ended as ${state}`);
      env.log(`a frame took ${frameMs} ms during the render; cancel at step ${stepAtCancel} stopped at ${stoppedAt} after ${cancelMs} ms`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "open-url",
    async run(env) {
      const page = await newPage(env.context);
      const url = modelsUrl(env, "copy.msb");
      const downloads = () => env.requests().filter((p) => p.endsWith("/models/copy.msb")).length;
      // Typed into the form: a relative address works too.
      await page.goto(env.url);
      await page.waitForSelector("#model-url");
      await page.fill("#model-url", "models/copy.msb");
      await page.click("#model-open");
      await page.waitForFunction(() => location.hash.startsWith("#/?src="));
      const hash = await page.evaluate(() => location.hash);
      check(hash === srcHash(url), `the form led to ${hash}, not ${srcHash(url)}`);
      await page.waitForSelector("#model-source", { timeout: 120_000 });
      const source = await page.textContent("#model-source");
      check(source.includes(`from ${url}`), `the source line says "${source}"`);
      check(downloads() === 1, `the model was requested ${downloads()} times`);
      await env.shot(page, "open-url");
      // Its links carry the URL, and a neuron renders on it.
      const { name, layer } = env.model;
      const layerHref = await page.getAttribute(`#layers a:text-is("${layer.name}")`, "href");
      check(layerHref.endsWith(`?src=${encodeURIComponent(url)}`), `the layer link is ${layerHref}`);
      const neuron = `#/${name}/${layer.name}/7?seed=1&steps=4&src=${encodeURIComponent(url)}`;
      const r = await renderNeuron(env, page, neuron);
      checkImage(r.stats);
      // A new visit takes it from the Cache Storage.
      const again = await newPage(env.context);
      await again.goto(env.url + srcHash(url));
      await again.waitForSelector("#model-source", { timeout: 120_000 });
      check(downloads() === 1, `the second visit downloaded the model again (${downloads()} requests)`);
      env.log(`opened ${url}; second visit from the cache (${downloads()} download)`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
      await again.close();
    },
  },
  {
    name: "open-safetensors",
    async run(env) {
      const page = await newPage(env.context);
      for (const [dir, arch, words] of [
        ["hf", "ViT", true],
        ["rn", "ResNet", false],
      ]) {
        const url = modelsUrl(env, `${dir}/model.safetensors`);
        const { name, layer } = await readModel(page, env.url + srcHash(url));
        check(name === dir, `the model from ${url} is called "${name}", not "${dir}" (its folder)`);
        const source = await page.textContent("#model-source");
        check(source.includes(`from ${url}`), `the source line says "${source}"`);
        check(words === /vocabulary words/.test(source), `the source line says "${source}"`);
        const architecture = await page.textContent("#model-architecture");
        check(architecture.includes(arch), `${dir}: the architecture says "${architecture}"`);
        const r = await renderNeuron(env, page, `#/${name}/${layer.name}/1?steps=4&src=${encodeURIComponent(url)}`);
        check(r.stats.width === SIZE && r.stats.opaque === SIZE * SIZE, `${dir}: ${JSON.stringify(r.stats)}`);
        await page.waitForSelector(words ? "#words li" : "#words-none", { timeout: 60_000 });
        await env.shot(page, `safetensors-${dir}`);
        env.log(`${url}: ${name}, ${architecture}; rendered ${layer.name} unit 1`);
        // Quantized to int8 in the worker, and the int8 bundle kept: the next visit downloads
        // nothing and runs the same weights (the same pixels).
        check(architecture.includes("quantized to int8 in the browser"), `${dir}: the architecture says "${architecture}"`);
        const fetched = () => env.requests().filter((p) => p.endsWith(`/models/${dir}/model.safetensors`)).length;
        const before = fetched();
        const again = await newPage(env.context);
        const link = `#/${name}/${layer.name}/1?steps=4&src=${encodeURIComponent(url)}`;
        const second = await renderNeuron(env, again, link);
        const cachedArchitecture = await (async () => {
          await again.goto(env.url + srcHash(url));
          await again.waitForSelector("#model-architecture", { timeout: 120_000 });
          return again.textContent("#model-architecture");
        })();
        check(fetched() === before, `${dir}: the second visit downloaded the checkpoint again`);
        check(second.stats.hash === r.stats.hash, `${dir}: the cached int8 bundle rendered other pixels`);
        check(!cachedArchitecture.includes("quantized"), `${dir}: the second visit quantized again: "${cachedArchitecture}"`);
        env.log(`${dir}: second visit from the cached int8 bundle, same pixels; ${cachedArchitecture}`);
        check(again.problems.length === 0, again.problems.join("\n"));
        await again.close();
      }
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "bad-urls",
    async run(env) {
      const page = await newPage(env.context);
      const crossOrigin = modelsUrl(env, "copy.msb").replace("127.0.0.1", "localhost");
      const cases = [
        ["404", modelsUrl(env, "missing.msb"), "404"],
        ["not-a-model", env.url + "index.html", "neither a modalscope bundle nor a safetensors checkpoint"],
        ["truncated", modelsUrl(env, "half.msb"), "truncated"],
        ["cors", crossOrigin, "CORS"],
      ];
      for (const [label, url, needle] of cases) {
        const text = await expectMessage(env, page, srcHash(url), needle);
        check((await page.$("#load-retry")) !== null, "no way to try again");
        await env.shot(page, `bad-url-${label}`);
        env.log(`${label}: ${text}`);
      }
      // Back to the built-in model.
      await page.click("#page-message a");
      await page.waitForSelector("#model-source");
      check((await page.textContent("#model-source")).includes("built into the page"), "the link back does not lead to the built-in model");
      await page.close();
    },
  },
  {
    name: "cancel-download",
    async run(env) {
      const page = await newPage(env.context);
      const url = modelsUrl(env, "slow.msb");
      await page.goto(env.url + srcHash(url));
      await page.waitForFunction(() => Number(document.getElementById("load-progress")?.value) > 0, null, {
        timeout: 60_000,
        polling: 50,
      });
      const status = await page.textContent("#load-status");
      check(/ of .* \(\d+ %\)/.test(status), `the download status says "${status}"`);
      await env.shot(page, "download-progress");
      await page.click("#load-cancel");
      const text = await (await page.waitForSelector('#page-message[data-load="cancelled"]')).textContent();
      check(text.includes("cancelled"), `the page says "${text}"`);
      await env.shot(page, "download-cancelled");
      // The built-in model comes back.
      await page.click("#page-message a");
      await page.waitForSelector("#model-source", { timeout: 120_000 });
      env.log(`progress "${status}", then: ${text}`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "multimodal",
    async run(env) {
      const page = await newPage(env.context);
      const { name, mlp } = env.model;
      // From the layer page's link.
      await page.goto(`${env.url}#/${name}/${mlp.name}`);
      await page.click("#layer-multimodal");
      const hash = await page.evaluate(() => location.hash);
      check(hash === `#/${name}/${mlp.name}/multimodal`, `the layer page's link leads to ${hash}`);
      await page.goto(env.url + "#/");
      const r = await runAnalysis(env, page, hash);
      check(r.seen.some((s) => s.startsWith("running:")), `no progress was shown: ${r.seen.join(" ")}`);
      env.log(`multimodal ranking of ${mlp.name} (${mlp.units} units, 10 + 10 images per concept): ${(r.ms / 1000).toFixed(1)} s in the worker, ${r.seconds.toFixed(1)} s in the test; ${r.seen.length} progress states`);
      const rows = await page.$$eval("#multimodal-table tbody tr", (trs) =>
        trs.map((tr) => {
          const cells = [...tr.querySelectorAll("td")].map((td) => td.textContent.trim());
          return {
            unit: Number(tr.dataset.unit),
            concept: tr.dataset.concept,
            drawn: Number(cells[3]),
            written: Number(cells[4]),
            combined: Number(cells[5]),
            text: cells[6],
            href: tr.querySelector("a.unit-link").getAttribute("href"),
            lesion: tr.querySelector("a.lesion-concept").getAttribute("href"),
            needed: tr.querySelector("a.lesion-needed").getAttribute("href"),
            evidence: tr.querySelectorAll("canvas.evidence").length,
          };
        }),
      );
      check(rows.length === 20, `the table has ${rows.length} rows, not 20`);
      for (const [i, row] of rows.entries()) {
        check(row.href === `#/${name}/${mlp.name}/${row.unit}`, `row ${i} links to ${row.href}`);
        check([row.drawn, row.written].every((a) => a >= 0 && a <= 1), `row ${i}: AUROCs ${row.drawn}, ${row.written}`);
        check(Math.abs(row.combined - Math.min(row.drawn, row.written)) < 1e-3, `row ${i}: combined ${row.combined}`);
        check(/^[+-]\d\.\d{4}$/.test(row.text), `row ${i}: text alignment "${row.text}"`);
        check(row.evidence === 6, `row ${i} shows ${row.evidence} evidence images, not 3 + 3`);
        const count = row.lesion.match(/units=([\d,]+)/)[1].split(",").length;
        check(
          row.needed === `#/${name}/lesion?layer=${mlp.name}&needed=${count}&mode=mean&concept=${row.concept}`,
          `row ${i}: the link to the units its concept needs is ${row.needed}`,
        );
        if (i > 0) check(rows[i - 1].combined >= row.combined, "the rows are not sorted by the combined score");
      }
      // The top units as a row of feature visualizations (ranges such as 4-7 spelled out).
      const rowHref = await page.getAttribute("#multimodal-row", "href");
      const rowUnits = rowHref
        .slice(`#/${name}/${mlp.name}/`.length)
        .split(",")
        .flatMap((p) => (p.includes("-") ? (([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i))(p.split("-").map(Number)) : [Number(p)]));
      check(
        rowHref.startsWith(`#/${name}/${mlp.name}/`) && rowUnits.join(",") === rows.slice(0, 8).map((r) => r.unit).join(","),
        `the ranking's row link is ${rowHref}`,
      );
      const painted = await canvasesPainted(page, "canvas.evidence");
      check(painted.painted === painted.count, `only ${painted.painted} of ${painted.count} evidence images show anything`);
      env.log(`best: unit ${rows[0].unit} (${rows[0].concept}) drawn ${rows[0].drawn} written ${rows[0].written} text ${rows[0].text}`);
      await env.shot(page, "multimodal");
      // Lesion the top units of the best unit's concept, from the row's link.
      // The ranking's own status reads "done" until the lesion view replaces it: wait for the
      // lesion's job, so the two are not confused.
      const ranking = await shownJob(page);
      await page.click("#multimodal-table tbody tr:first-child a.lesion-concept");
      const lesion = await waitForAnalysis(page, { after: ranking });
      check(lesion.state === "done", `the lesion from the ranking ended as ${lesion.state}: ${lesion.error ?? ""}`);
      const target = await page.$$eval("#lesion-table tr.target", (trs) => trs.map((tr) => tr.dataset.concept));
      check(target.length === 1 && target[0] === rows[0].concept, `the target row is ${target}`);
      env.log(`${rows[0].lesion}: ${await page.textContent("#lesion-target")} (${(lesion.ms / 1000).toFixed(1)} s)`);
      await env.shot(page, "multimodal-lesion");
      // A long ranking (not cached) can be cancelled and run again.
      await page.goto(`${env.url}#/${name}/${mlp.name}/multimodal?n=30&top=5`);
      await page.waitForSelector('#analysis-status[data-state="running"]', { timeout: 120_000 });
      const clicked = Date.now();
      await page.click("#analysis-cancel");
      const cancelled = await waitForAnalysis(page);
      check(cancelled.state === "cancelled", `after cancel the analysis is ${cancelled.state}`);
      const cancelMs = Date.now() - clicked;
      check(cancelMs < 10_000, `cancelling took ${cancelMs} ms`);
      await env.shot(page, "multimodal-cancelled");
      await page.click("#analysis-restart");
      await page.waitForSelector('#analysis-status[data-state="running"]');
      env.log(`cancelled after ${cancelMs} ms; run again restarts`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "lesion",
    async run(env) {
      const page = await newPage(env.context);
      const { name, mlp } = env.model;
      // From a neuron page's link.
      await page.goto(`${env.url}#/${name}/${mlp.name}/5?steps=4`);
      await page.waitForSelector("#neuron-lesion");
      const link = await page.getAttribute("#neuron-lesion", "href");
      check(link === `#/${name}/lesion?layer=${mlp.name}&units=5&mode=zero`, `the neuron page's lesion link is ${link}`);
      for (const l of [`#/${name}/lesion?layer=${mlp.name}&units=1,2,3&mode=zero`, `#/${name}/lesion?layer=${mlp.name}&units=1-8&mode=mean&n=4`]) {
        const r = await runAnalysis(env, page, l);
        const rows = await page.$$eval("#lesion-table tbody tr", (trs) =>
          trs.map((tr) => ({ concept: tr.dataset.concept, drop: Number(tr.dataset.drop), hit: tr.classList.contains("hit") })),
        );
        check(rows.length === 30, `the lesion table has ${rows.length} rows`);
        for (let i = 1; i < rows.length; i++) check(rows[i - 1].drop >= rows[i].drop, "the concepts are not sorted by drop");
        const hits = rows.filter((r) => r.hit);
        check(hits.length <= 3 && hits.every((h) => h.drop > 0), `highlighted: ${JSON.stringify(hits)}`);
        check(rows.every((r, i) => r.hit === (i < 3 && r.drop > 0)), "the concepts that lose most are not the highlighted ones");
        const overall = await page.textContent("#lesion-overall");
        check(/drawn \d+ % → \d+ %/.test(overall), `the overall line says "${overall}"`);
        env.log(`${l}: ${overall}; most hurt ${rows[0].concept} (${(100 * rows[0].drop).toFixed(0)} %); ${(r.ms / 1000).toFixed(1)} s in the worker`);
      }
      await env.shot(page, "lesion");
      // The units a concept needs, chosen in the worker by what each costs it (`modalscope
      // lesion --choose needed`), listed with a link that silences exactly them and gives the
      // same table.
      const pooled = env.model.layers.find((l) => l.name === "vision.post_ln") ?? mlp;
      const neededLink = `#/${name}/lesion?layer=${pooled.name}&needed=3&mode=mean&n=1&concept=eye`;
      const table = () =>
        page.$$eval("#lesion-table tbody tr", (trs) => trs.map((tr) => `${tr.dataset.concept}:${tr.dataset.drop}`).join(" "));
      const n = await runAnalysis(env, page, neededLink);
      check(n.seen.some((s) => s.startsWith("running:")), `choosing the units showed no progress: ${n.seen.join(" ")}`);
      const heading = await page.textContent("h1");
      check(heading.includes("the 3 units `eye` needs"), `the heading says "${heading}"`);
      const chosen = await page.$$eval("#lesion-chosen a.unit-link", (as) => as.map((a) => Number(a.textContent)));
      check(chosen.length === 3 && chosen.every((u) => u >= 0 && u < pooled.units), `chosen units: ${chosen}`);
      const fixed = await page.getAttribute("#lesion-fixed", "href");
      const sorted = [...chosen].sort((a, b) => a - b).join(",");
      check(fixed === `#/${name}/lesion?layer=${pooled.name}&units=${sorted}&mode=mean&n=1&concept=eye`, `the fixed link is ${fixed}`);
      const target = await page.$$eval("#lesion-table tr.target", (trs) => trs.map((tr) => tr.dataset.concept));
      check(target.join() === "eye", `the target row is ${target}`);
      const neededTable = await table();
      await env.shot(page, "lesion-needed");
      await runAnalysis(env, page, fixed);
      check((await table()) === neededTable, "the fixed link's table differs from the needed units'");
      env.log(`${neededLink}: units ${chosen} (${(n.ms / 1000).toFixed(1)} s in the worker); ${await page.textContent("#lesion-target")}`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "attack",
    async run(env) {
      const page = await newPage(env.context);
      const { name } = env.model;
      // From the home page's link.
      await page.goto(env.url);
      await page.click("#home-attack");
      const r = await waitForAnalysis(page);
      check(r.state === "done", `the attack ended as ${r.state}: ${r.error ?? ""}`);
      const probs = () =>
        page.$$eval("#attack-probs tbody tr", (trs) => ({
          rows: trs.length,
          before: trs.reduce((s, tr) => s + Number(tr.dataset.before), 0),
          after: trs.reduce((s, tr) => s + Number(tr.dataset.after), 0),
          top: trs[0]?.dataset.concept,
        }));
      const p = await probs();
      check(p.rows === 30, `${p.rows} labels listed`);
      check(Math.abs(p.before - 1) < 0.01 && Math.abs(p.after - 1) < 0.01, `the probabilities sum to ${p.before} and ${p.after}`);
      const images = await canvasesPainted(page, "canvas.attack-image");
      check(images.count === 2 && images.painted === 2, `the attack images: ${JSON.stringify(images)}`);
      const [before, after] = await page.$$eval("canvas.attack-image", (cs) => cs.map((c) => c.toDataURL()));
      check(before !== after, "the word is not on the image");
      const units = await page.$$eval("#attack-units li", (lis) => lis.length);
      check(units > 0, "no changed units are listed");
      // The same probabilities on every backend.
      const probsAfter = await page.$$eval("#attack-probs tbody tr", (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.concept, Number(tr.dataset.after)])));
      if (env.expectBackend === "cpu") cpuAttackProbs = probsAfter;
      else if (cpuAttackProbs) {
        const diff = Math.max(...Object.keys(probsAfter).map((c) => Math.abs(probsAfter[c] - cpuAttackProbs[c])));
        env.log(`largest difference from the CPU's probabilities: ${diff.toExponential(1)}`);
        check(diff < 0.01, `the probabilities differ from the CPU's by ${diff}`);
      }
      const labels = [await page.textContent("#attack-before-label"), await page.textContent("#attack-after-label")];
      env.log(`${await page.evaluate(() => location.hash)}: ${labels.join(" → ")}, ${(r.ms / 1000).toFixed(2)} s in the worker`);
      await env.shot(page, "attack");
      // Live: a new word, a new position and colour; the link follows.
      const t0 = Date.now();
      await page.fill("#attack-word", "star");
      await page.waitForSelector('#attack-result[data-word="star"]', { timeout: 120_000 });
      const liveMs = Date.now() - t0;
      await page.$eval("#attack-x", (el) => {
        el.value = "25";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await page.$eval("#attack-color", (el) => {
        el.value = "#cc0000";
        el.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await page.waitForFunction(() => location.hash.includes("x=25") && location.hash.includes("color=cc0000"), null, { timeout: 120_000 });
      const hash = await page.evaluate(() => location.hash);
      check(hash.includes("word=star"), `the link is ${hash}`);
      const live = await waitForAnalysis(page);
      check(live.state === "done", `the attack after the controls changed ended as ${live.state}`);
      const p2 = await probs();
      check(Math.abs(p2.after - 1) < 0.01, `the probabilities sum to ${p2.after}`);
      await env.shot(page, "attack-live");
      env.log(`new word shown ${liveMs} ms after typing (debounced); link ${hash}`);
      // On a paper label: the link carries the paper, the word's red ink stays legible, the
      // attacked image changes and the drawing does not.
      const [beforeInk, afterInk] = await page.$$eval("canvas.attack-image", (cs) => cs.map((c) => c.toDataURL()));
      check(!(await page.isEnabled("#attack-label-color")), "the paper colour is live without a label");
      await page.check("#attack-label");
      await page.waitForFunction(() => location.hash.includes("label=f4f0e4"), null, { timeout: 120_000 });
      check(await page.isEnabled("#attack-label-color"), "the paper colour stays disabled with a label");
      check((await page.evaluate(() => location.hash)).includes("color=cc0000"), "red ink, legible on a pale label, was changed");
      check((await waitForAnalysis(page)).state === "done", "the attack on a label failed");
      await page.waitForFunction((old) => document.querySelectorAll("canvas.attack-image")[1]?.toDataURL() !== old, afterInk, { timeout: 120_000 });
      const [beforeLabel] = await page.$$eval("canvas.attack-image", (cs) => cs.map((c) => c.toDataURL()));
      check(beforeLabel === beforeInk, "a label changed the drawing before the attack");
      await env.shot(page, "attack-label");
      const labelHash = await page.evaluate(() => location.hash);
      env.log(`on a paper label: ${labelHash}`);
      // The link reproduces the attack in a fresh page.
      const again = await newPage(env.context);
      await again.goto(env.url + labelHash);
      check((await waitForAnalysis(again)).state === "done", "the attack link did not reproduce");
      check(await again.isChecked("#attack-label"), "the link's label did not tick the box");
      const p3 = await again.$$eval("#attack-probs tbody tr", (trs) => trs.map((tr) => tr.dataset.after).join());
      const p4 = await page.$$eval("#attack-probs tbody tr", (trs) => trs.map((tr) => tr.dataset.after).join());
      check(p3 === p4, "the link gives other probabilities than the page it came from");
      await again.close();
      // A file that is not an image says so; an image file is written on.
      await page.setInputFiles("#attack-file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image") });
      await page.waitForFunction(() => document.getElementById("analysis-error")?.textContent.includes("is not an image"), null, { timeout: 120_000 });
      const error = await page.textContent("#analysis-error");
      check(error.includes("notes.txt"), `the message is "${error}"`);
      await env.shot(page, "attack-not-an-image");
      await page.setInputFiles("#attack-file", path.join(ROOT, "tests/fixtures/images/shapes.png"));
      await page.waitForSelector("#attack-file-note");
      await page.waitForFunction(() => document.getElementById("attack-result")?.querySelector("figcaption")?.textContent.includes("shapes.png"), null, { timeout: 120_000 });
      check((await waitForAnalysis(page)).state === "done", "the attack on the picked image failed");
      await env.shot(page, "attack-file");
      env.log(`not an image: ${error}`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "families",
    async run(env) {
      const page = await newPage(env.context);
      const { name, mlp } = env.model;
      const r = await runAnalysis(env, page, `#/${name}/${mlp.name}/families?k=6&seed=1`);
      const families = await page.$$eval("#families .family", (fs) =>
        fs.map((f) => ({
          size: Number(f.dataset.size),
          members: [...f.querySelectorAll(".member")].map((a) => a.getAttribute("href")),
          concepts: f.querySelector(".family-concepts").textContent,
        })),
      );
      check(families.length === 6, `${families.length} families, not 6`);
      const flat = await page.$("#families-flat");
      const members = families.reduce((n, f) => n + f.members.length, 0);
      check(members <= mlp.units && (flat !== null || members === mlp.units), `${members} members of ${mlp.units} units`);
      for (const f of families) {
        check(f.members.length === f.size && f.size > 0, `a family of ${f.size} lists ${f.members.length} members`);
        check(f.members.every((h) => h.startsWith(`#/${name}/${mlp.name}/`)), `member links: ${f.members.slice(0, 3)}`);
      }
      await page.waitForFunction(() => document.querySelectorAll(".family canvas.thumb").length >= 6, null, { timeout: RENDER_TIMEOUT, polling: 200 });
      await env.shot(page, "families");
      env.log(`${families.length} families of ${families.map((f) => f.size).join(", ")} units; ${families[0].concepts}; ${(r.ms / 1000).toFixed(1)} s in the worker`);
      // Another k from the form.
      const six = await shownJob(page);
      await page.fill("#set-k", "3");
      await page.click("#set-apply");
      await page.waitForFunction(() => location.hash.includes("k=3"));
      check((await waitForAnalysis(page, { after: six })).state === "done", "k=3 did not finish");
      const n = await page.$$eval("#families .family", (fs) => fs.length);
      check(n === 3, `${n} families for k=3`);
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "analysis-bad-links",
    async run(env) {
      const page = await newPage(env.context);
      const { name, mlp } = env.model;
      const cases = [
        ["attack-concept", `#/${name}/attack?concept=pizza&word=star`, "`pizza` is not a concept"],
        ["attack-layer", `#/${name}/attack?layer=vision.nothing`, "no image-tower layer `vision.nothing`"],
        ["attack-colour", `#/${name}/attack?color=red`, "six hex digits"],
        ["lesion-unit", `#/${name}/lesion?layer=${mlp.name}&units=1,${mlp.units}`, `there is no unit ${mlp.units}`],
        ["lesion-layer", `#/${name}/lesion?layer=vision.nothing&units=1`, "no image-tower layer `vision.nothing`"],
        ["lesion-no-units", `#/${name}/lesion?layer=${mlp.name}`, "`units=`"],
        ["lesion-needed-no-concept", `#/${name}/lesion?layer=${mlp.name}&needed=3`, "name the concept"],
        ["lesion-needed-too-many", `#/${name}/lesion?layer=${mlp.name}&needed=${mlp.units + 1}&concept=eye`, `has ${mlp.units} units; \`needed=${mlp.units + 1}\``],
        ["lesion-concept", `#/${name}/lesion?layer=${mlp.name}&units=1&concept=pizza`, "not a concept"],
        ["multimodal-layer", `#/${name}/vision.nothing/multimodal`, "no image-tower layer `vision.nothing`"],
        ["multimodal-text", `#/${name}/text.blocks.0.mlp/multimodal`, "text tower"],
        ["families-k", `#/${name}/${mlp.name}/families?k=0`, "number of families"],
        ["families-model", `#/clip-vit-nothing/${mlp.name}/families`, "no model `clip-vit-nothing`"],
      ];
      for (const [label, link, needle] of cases) {
        const text = await expectMessage(env, page, link, needle);
        check((await page.$("#analysis-status")) === null, `${label}: an analysis runs for a bad link`);
        if (["attack-concept", "lesion-unit", "multimodal-layer"].includes(label)) await env.shot(page, `bad-link-${label}`);
        env.log(`${label}: ${text}`);
      }
      check(page.problems.length === 0, page.problems.join("\n"));
      await page.close();
    },
  },
  {
    name: "subpath",
    async run(env) {
      const outside = env.requests().filter((p) => !p.startsWith(PREFIX));
      check(outside.length === 0, `the page asked for paths outside ${PREFIX}: ${outside.join(", ")}`);
      const worker = env.requests().filter((p) => p.includes("modalscope-worker"));
      check(worker.length > 0, "the worker's files were never requested");
      env.log(`worker files: ${[...new Set(worker)].join(", ")}`);
    },
  },
  {
    name: "worker-crash",
    async run(env) {
      const page = await newPage(env.context);
      // The worker's script throws at once, as a worker that dies (e.g. out of memory) does.
      await page.route("**/modalscope-worker_loader.js", (route) =>
        route.fulfill({
          contentType: "text/javascript",
          body: 'throw new Error("simulated crash of the model worker");',
        }),
      );
      await page.goto(env.url + env.neuron);
      const b = await backend(page);
      check(b.kind === "failed", `the note says ${b.kind}: ${b.text}`);
      check(b.text.includes("model worker stopped"), `the note says: ${b.text}`);
      const msg = await (await page.waitForSelector("#page-message")).textContent();
      check(msg.includes("needs the model"), `the page says: ${msg}`);
      await env.shot(page, "worker-crash");
      env.log(b.text);
      await page.close();
    },
  },
  ...surveyScenarios(ROOT),
];

// ---------------------------------------------------------------------------------------------

export async function probeWebGpu(context, url) {
  const page = await context.newPage();
  await page.goto(url + "#/nothing-here");
  const result = await page.evaluate(async () => {
    if (!navigator.gpu) return "navigator.gpu is missing";
    const a = await navigator.gpu.requestAdapter();
    if (!a) return "requestAdapter() returned null";
    return `adapter: ${a.info?.vendor} ${a.info?.architecture}`;
  });
  await page.close();
  return result;
}

/** Test weights the server offers under models/. */
const fixture = (p) => ({ body: readFileSync(path.join(ROOT, "tests/fixtures", p)) });

export function testModels() {
  const builtin = readFileSync(path.join(ROOT, "web/builtin.msb"));
  return {
    "copy.msb": { body: builtin },
    // Tiny random-weight CLIPs (tests/fixtures) laid out as on the Hugging Face hub: a
    // transformers ViT with config.json and the tokenizer, and an OpenAI-named modified ResNet
    // with OpenCLIP's open_clip_config.json and no tokenizer.
    "hf/model.safetensors": fixture("hf_vit/model.safetensors"),
    "hf/config.json": fixture("hf_vit/config.json"),
    "hf/vocab.json": fixture("tokenizer/vocab.json"),
    "hf/merges.txt": fixture("tokenizer/merges.txt"),
    "rn/model.safetensors": fixture("openai_rn/model.safetensors"),
    "rn/open_clip_config.json": {
      body: Buffer.from(`{"model_cfg": ${readFileSync(path.join(ROOT, "tests/fixtures/openai_rn/open_clip_config.json"))}}`),
    },
    "half.msb": { body: builtin.subarray(0, Math.floor(builtin.length / 2)) },
    // About 20 s for the built-in model: long enough to see progress and cancel.
    "slow.msb": { body: builtin, delayMs: Math.ceil(20_000 / Math.max(1, builtin.length / 65536)) },
    // Image lists and exports (tests/e2e/survey.mjs).
    ...surveyFiles(ROOT),
  };
}

async function main() {
  check(existsSync(path.join(DIST, "index.html")), `no ${DIST}/index.html: run bash scripts/build-page.sh first`);
  for (const f of ["modalscope-worker_loader.js", "modalscope-worker.js", "modalscope-worker_bg.wasm"]) {
    check(existsSync(path.join(DIST, f)), `${f} is missing from ${DIST}: rebuild with bash scripts/build-page.sh`);
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  const models = testModels();
  const server = await serve(DIST, PREFIX, models);
  console.log(`e2e: serving ${DIST} at ${server.url}; screenshots in ${ARTIFACTS}`);
  const browsers = [{ kind: "cpu", flags: [], expectBackend: "cpu" }];
  if (WEBGPU !== "0") browsers.push({ kind: "webgpu", flags: WEBGPU_FLAGS, expectBackend: "webgpu" });

  const report = [];
  let failed = 0;
  for (const b of browsers) {
    const { context, close } = await launch(b.flags);
    try {
      if (b.kind === "webgpu") {
        const probe = await probeWebGpu(context, server.url);
        console.log(`e2e: [webgpu] flags ${b.flags.join(" ")}: ${probe}`);
        report.push(`note webgpu: ${b.flags.join(" ")}: ${probe}`);
        if (!probe.startsWith("adapter")) {
          if (WEBGPU === "1") {
            failed++;
            report.push(`FAIL webgpu: no adapter (${probe})`);
          } else {
            report.push(`SKIP webgpu scenarios: ${probe}`);
          }
          continue;
        }
      }
      const first = await newPage(context);
      const model = await readModel(first, server.url);
      await first.close();
      const env = {
        context,
        url: server.url,
        model,
        neuron: `#/${model.name}/${model.layer.name}/7?seed=1&steps=${STEPS}`,
        expectBackend: b.expectBackend,
        results: {},
        requests: () => server.requests,
        // Offers a file under models/ from now on.
        serve: (p, body) => (models[p] = { body }),
        artifacts: ARTIFACTS,
        shot: (page, name, fullPage = true) =>
          page.screenshot({ path: path.join(ARTIFACTS, `${b.kind}-${name}.png`), fullPage }),
        log: (...m) => console.log(`      [${((Date.now() - env.t0) / 1000).toFixed(1)} s] ${m.join(" ")}`),
      };
      for (const s of scenarios) {
        if (ONLY && !ONLY.includes(s.name)) continue;
        // SwiftShader's WebGPU takes seconds a step: there, only what depends on the backend
        // (the attack: an analysis, read back asynchronously, on two images).
        if (b.kind === "webgpu" && !["home", "neuron", "attack"].includes(s.name)) continue;
        const t0 = Date.now();
        env.t0 = t0;
        console.log(`e2e: [${b.kind}] ${s.name} ...`);
        try {
          await s.run(env);
          const line = `ok   [${b.kind}] ${s.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
          console.log(`e2e: ${line}`);
          report.push(line);
        } catch (e) {
          failed++;
          const line = `FAIL [${b.kind}] ${s.name}: ${e instanceof Failure ? e.message : e.stack}`;
          console.log(`e2e: ${line}`);
          report.push(line);
          for (const p of env.context.pages()) {
            await p.screenshot({ path: path.join(ARTIFACTS, `${b.kind}-${s.name}-FAILED.png`), fullPage: true }).catch(() => {});
            if (p.consoleLines?.length) console.log(p.consoleLines.slice(-20).map((l) => `      console ${l}`).join("\n"));
            await p.close().catch(() => {});
          }
        }
      }
    } finally {
      await close();
    }
  }
  await server.close();
  writeFileSync(path.join(ARTIFACTS, "report.txt"), report.join("\n") + "\n");
  console.log(`\ne2e summary:\n  ${report.join("\n  ")}`);
  console.log(failed ? `e2e: ${failed} failed` : "e2e: all passed");
  process.exit(failed ? 1 : 0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(`e2e: ${e instanceof Failure ? e.message : e.stack}`);
    process.exit(1);
  });
}
