// A scripted browser benchmark of the built page (build it first: bash scripts/build-page.sh):
// time to the first rendered neuron on the built-in model in a fresh page (worker start, wasm
// compile, backend choice, model load and the whole render), time per feature-visualization
// step, and time to the first batch of layer thumbnails. Prints the figures; writes them to
// tests/e2e/artifacts/bench.json.
//
//   node tests/e2e/bench.mjs [--runs N] [--steps N] [--webgpu] [--dist DIR]
//
// --webgpu runs the browser with SwiftShader's WebGPU adapter (a CPU implementation of WebGPU,
// so its figures say nothing about a real GPU).

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serve } from "./server.mjs";
import { launch, WEBGPU_FLAGS } from "./run.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt("--runs", 3));
const STEPS = Number(opt("--steps", 128));
const WEBGPU = args.includes("--webgpu");
const DIST = path.resolve(ROOT, opt("--dist", "dist"));
const ARTIFACTS = path.resolve(ROOT, process.env.E2E_ARTIFACTS ?? "tests/e2e/artifacts");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Opens `hash` in a fresh page and times it: ms to the model, the first preview and done. */
async function timeNeuron(context, url, hash) {
  const page = await context.newPage();
  const t0 = Date.now();
  await page.goto(url + hash);
  await page.waitForSelector('#backend-note[data-backend="cpu"], #backend-note[data-backend="webgpu"]', { timeout: 300_000 });
  const model = Date.now() - t0;
  await page.waitForFunction(() => ["running", "done"].includes(document.getElementById("fv-canvas")?.dataset.state), null, {
    timeout: 600_000,
    polling: 20,
  });
  const preview = Date.now() - t0;
  await page.waitForFunction(() => document.getElementById("fv-canvas")?.dataset.state === "done", null, {
    timeout: 600_000,
    polling: 20,
  });
  const done = Date.now() - t0;
  const worker = Number(await page.getAttribute("#fv-canvas", "data-elapsed-ms"));
  const backend = await page.getAttribute("#backend-note", "data-backend");
  await page.close();
  return { model, preview, done, worker, backend };
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const server = await serve(DIST, "/modalscope/");
  const { context, close } = await launch(WEBGPU ? WEBGPU_FLAGS : []);
  const results = { runs: RUNS, steps: STEPS, flags: WEBGPU ? WEBGPU_FLAGS : [] };
  try {
    // The model and a layer, from the page.
    const page = await context.newPage();
    await page.goto(server.url);
    await page.waitForSelector("#layers li", { timeout: 300_000 });
    const model = await page.textContent("#model-name");
    const layers = await page.$$eval("#layers li", (lis) =>
      lis.map((li) => [li.querySelector("a").textContent, li.querySelector("span").textContent]),
    );
    // A layer of neurons with a map: a ViT's MLP, a ResNet's block.
    const neurons = (n) => /^vision\.(blocks\.\d+\.mlp$|layer\d)/.test(n);
    const layer = (layers.find(([n, s]) => neurons(n) && !s.endsWith("1×1")) ?? layers[0])[0];
    results.model = model;
    results.layer = layer;
    await page.close();

    const firsts = [];
    const perStep = [];
    for (let i = 0; i < RUNS; i++) {
      // Default settings (what a shared link without settings renders), a new unit each time.
      const r = await timeNeuron(context, server.url, `#/${model}/${layer}/${i}?steps=${STEPS}`);
      firsts.push(r);
      perStep.push(r.worker / STEPS);
      console.log(
        `bench: run ${i + 1}: model ready ${r.model} ms, first preview ${r.preview} ms, done ${r.done} ms ` +
          `(render ${r.worker.toFixed(0)} ms in the worker, ${(r.worker / STEPS).toFixed(1)} ms a step, ${r.backend})`,
      );
    }
    results.backend = firsts[0].backend;
    results.first_neuron_ms = median(firsts.map((r) => r.done));
    results.model_ready_ms = median(firsts.map((r) => r.model));
    results.first_preview_ms = median(firsts.map((r) => r.preview));
    results.ms_per_step = median(perStep);

    // SwiftShader's WebGPU runs on the CPU at seconds a step: there, only the above.
    if (!WEBGPU) {
      // Four facets at once (batch 4).
      const facets = await timeNeuron(context, server.url, `#/${model}/${layer}/0?steps=${Math.min(STEPS, 32)}&facets=4`);
      results.ms_per_step_4_facets = facets.worker / Math.min(STEPS, 32);

      // Thumbnails: the first batch of a layer's grid.
      const grid = await context.newPage();
      await grid.goto(`${server.url}#/${model}/${layer}`);
      await grid.waitForSelector(".unit-cell", { timeout: 300_000 });
      const t0 = Date.now();
      await grid.waitForFunction(() => document.querySelectorAll('.unit-cell[data-thumb="done"]').length >= 8, null, {
        timeout: 600_000,
        polling: 50,
      });
      results.first_8_thumbnails_ms = Date.now() - t0;
      await grid.close();
    }
  } finally {
    await close();
    await server.close();
  }
  writeFileSync(path.join(ARTIFACTS, `bench${WEBGPU ? "-webgpu" : ""}.json`), JSON.stringify(results, null, 2) + "\n");
  console.log(`\nbench (${results.backend}, ${results.model}, ${results.layer}, median of ${RUNS}):`);
  console.log(`  time to first rendered neuron (fresh page, ${STEPS} steps, 64 px): ${results.first_neuron_ms} ms`);
  console.log(`    of which model ready: ${results.model_ready_ms} ms; first preview at ${results.first_preview_ms} ms`);
  console.log(`  time per feature-visualization step (1 image, 64 px): ${results.ms_per_step.toFixed(1)} ms`);
  if (!WEBGPU) {
    console.log(`  time per step with 4 facets: ${results.ms_per_step_4_facets.toFixed(1)} ms`);
    console.log(`  first 8 layer thumbnails: ${results.first_8_thumbnails_ms} ms`);
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack}`);
  process.exit(1);
});
