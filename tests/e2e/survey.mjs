// End-to-end scenarios of image sets, dataset examples and activation atlases (issue 6), run by
// run.mjs with its browser, server and helpers: the generated set and a pass with progress and
// cancel, the dataset-example strip on a neuron page, a zip and a drop with files that are not
// images, a URL list with a missing image, a small atlas built from a link opened fresh (at the
// link's view; canvas, hover with the icon's score, zoom, pan, link; a manual build with the same
// settings gives the same files), export to a zip and import of it (and of the same files served
// as a folder), bad imports, a cancel during the layout and a link to someone's own images.

import { readFileSync } from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { check, newPage, canvasPixels, pixelStats } from "./run.mjs";

const RUN_TIMEOUT = 240_000;
const fixtureImage = (root, name) => readFileSync(path.join(root, "tests/fixtures/images", name));

/** A zip archive of `files` ({ name: Buffer }), stored (not compressed). */
export function zipStored(files) {
  const locals = [];
  const central = [];
  let offset = 0;
  for (const [name, body] of Object.entries(files)) {
    const n = Buffer.from(name);
    const crc = zlib.crc32(body) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(n.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE(20, 4);
    dir.writeUInt16LE(20, 6);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(body.length, 20);
    dir.writeUInt32LE(body.length, 24);
    dir.writeUInt16LE(n.length, 28);
    dir.writeUInt32LE(offset, 42);
    locals.push(local, n, body);
    central.push(dir, n);
    offset += 30 + n.length + body.length;
  }
  const size = central.reduce((s, b) => s + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(central.length / 2, 8);
  end.writeUInt16LE(central.length / 2, 10);
  end.writeUInt32LE(size, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...central, end]);
}

/** The entries of a zip (stored or deflated), { name: Buffer }. */
export function unzip(buf) {
  const out = {};
  let eocd = buf.length - 22;
  while (eocd >= 0 && buf.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nlen = buf.readUInt16LE(p + 28);
    const xlen = buf.readUInt16LE(p + 30);
    const clen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nlen).toString();
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(start, start + csize);
    out[name] = method === 8 ? zlib.inflateRawSync(data) : Buffer.from(data);
    p += 46 + nlen + xlen + clen;
  }
  return out;
}

/** Files the server offers under models/survey/ for the URL-list scenario. */
export function surveyFiles(root) {
  return {
    "survey/list.txt": { body: Buffer.from("# a list of images\nshapes.png\n./gradient.png\nmissing.png\n") },
    "survey/shapes.png": { body: fixtureImage(root, "shapes.png") },
    "survey/gradient.png": { body: fixtureImage(root, "gradient.png") },
  };
}

/** The job the survey status shows ("" for none). */
const jobId = (page) => page.evaluate(() => document.getElementById("survey-status")?.dataset.job ?? "");

/** Waits for a job other than `before` to end; returns its state, stage text and error. */
async function waitForJob(page, before, timeout = RUN_TIMEOUT) {
  await page.waitForFunction(
    (before) => {
      const s = document.getElementById("survey-status");
      return s && s.dataset.job !== before && ["done", "error", "cancelled"].includes(s.dataset.state);
    },
    before,
    { timeout, polling: 100 },
  );
  return page.evaluate(() => ({
    state: document.getElementById("survey-status").dataset.state,
    stage: document.getElementById("survey-stage")?.textContent,
    error: document.getElementById("survey-error")?.textContent,
  }));
}

/** Records the job's states and stages (polling until the page changes document). */
async function watchJob(page) {
  const seen = new Set();
  await page.exposeFunction("__job", (s) => seen.add(s)).catch(() => {});
  await page.evaluate(() => {
    const tick = () => {
      const s = document.getElementById("survey-status");
      if (s) window.__job(`${s.dataset.state}:${s.dataset.stage ?? ""}`);
      setTimeout(tick, 50);
    };
    tick();
  });
  return seen;
}

/** Loads `count` generated images on the image-set page. */
async function loadGenerated(page, count) {
  await page.fill("#images-count", String(count));
  await page.click("#images-generated");
  await page.waitForSelector(`#set-summary[data-images="${count}"]`, { timeout: RUN_TIMEOUT });
}

async function gotoImages(env, page) {
  await page.goto(`${env.url}#/${env.model.name}/images`);
  await page.waitForSelector("#drop-zone", { timeout: 120_000 });
}

export function surveyScenarios(ROOT) {
  return [
    {
      name: "survey-examples",
      async run(env) {
        const page = await newPage(env.context);
        const { name, mlp } = env.model;
        // From the home page's link.
        await page.goto(env.url);
        await page.click("#home-images");
        await page.waitForSelector("#drop-zone", { timeout: 120_000 });
        check((await page.evaluate(() => location.hash)) === `#/${name}/images`, "the home link leads elsewhere");
        await env.shot(page, "survey-images-empty");
        await loadGenerated(page, 200);
        const summary = await page.textContent("#set-summary");
        check(summary.includes("200 images"), `the set summary says "${summary}"`);
        // A pass over the set: progress, then the layer's examples with the time it took.
        await page.selectOption("#examples-layer", mlp.name);
        await page.fill("#examples-k", "6");
        const seen = await watchJob(page);
        const t0 = Date.now();
        let before = await jobId(page);
        await page.click("#examples-run");
        const job = await waitForJob(page, before);
        check(job.state === "done", `the pass ended as ${job.state}: ${job.error ?? ""}`);
        const row = await page.$eval(`#examples-layers li[data-layer="${mlp.name}"]`, (li) => ({
          images: Number(li.dataset.images),
          ms: Number(li.dataset.ms),
          text: li.textContent,
        }));
        check(row.images === 200, `the pass saw ${row.images} images`);
        check([...seen].some((s) => s.startsWith("running:images")), `no progress was shown: ${[...seen].slice(0, 5).join(" ")}`);
        const ips = row.images / (row.ms / 1000);
        env.results.passImagesPerSecond = ips;
        env.log(`pass over 200 generated images of ${mlp.name}: ${(row.ms / 1000).toFixed(2)} s in the worker (${ips.toFixed(0)} images/s), ${((Date.now() - t0) / 1000).toFixed(1)} s in the test; ${row.text.trim()}`);
        await env.shot(page, "survey-images-examples");
        // The strip on a neuron page (links from the layer page's list, the page keeps the worker).
        await page.goto(`${env.url}#/${name}/${mlp.name}/3?steps=4`);
        await page.waitForSelector("#examples-strip", { timeout: 120_000 });
        const strip = await page.$$eval("#examples-strip figure.example", (fs) =>
          fs.map((f) => ({ score: Number(f.dataset.score), name: f.querySelector(".name").textContent })),
        );
        check(strip.length === 6, `the strip shows ${strip.length} examples, not 6`);
        for (let i = 1; i < strip.length; i++) check(strip[i - 1].score >= strip[i].score, "the examples are not sorted by score");
        // Each example is painted by an effect that runs after its canvas is mounted: wait (up
        // to 10 s) until all six show something (any colour channel varies), then count.
        // `want`: true once that many are painted (for waitForFunction); without it, the count.
        const countPainted = (want) => {
          const n = [...document.querySelectorAll("#examples-strip canvas.example-image")].filter((c) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            const lo = [255, 255, 255];
            const hi = [0, 0, 0];
            for (let i = 0; i < d.length; i += 4) {
              for (let k = 0; k < 3; k++) {
                lo[k] = Math.min(lo[k], d[i + k]);
                hi[k] = Math.max(hi[k], d[i + k]);
              }
            }
            return hi.some((h, k) => h - lo[k] > 16);
          }).length;
          return want ? n >= want : n;
        };
        await page.waitForFunction(countPainted, 6, { timeout: 10_000, polling: 100 }).catch(() => {});
        const painted = await page.evaluate(countPainted);
        check(painted === 6, `only ${painted} of 6 example images show anything`);
        const maps = await page.$$eval("#examples-strip canvas.example-map", (cs) =>
          cs.map((c) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let hot = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 100) hot++;
            return hot;
          }),
        );
        check(maps.length === 6 && maps.every((h) => h > 0), `the activation maps have hot cells: ${maps}`);
        await env.shot(page, "survey-neuron-examples");
        env.log(`unit 3: ${strip.map((e) => `${e.score.toFixed(2)} ${e.name}`).join(" | ")}`);
        // Maps can be hidden.
        await page.click("#examples-maps");
        check(await page.$eval("canvas.example-map", (c) => c.classList.contains("hidden")), "the maps do not hide");
        // Another layer has none yet: the neuron page offers to find them, and does.
        const other = env.model.layers.find((l) => l.name !== mlp.name && l.grid[0] > 1) ?? env.model.layer;
        await page.goto(`${env.url}#/${name}/${other.name}/1?steps=4`);
        await page.waitForSelector("#examples-find", { timeout: 120_000 });
        await page.click("#examples-find");
        await page.waitForSelector("#examples-strip", { timeout: RUN_TIMEOUT });
        env.log(`${other.name}: examples found from the neuron page`);
        // A long pass can be cancelled.
        await gotoImages(env, page);
        await loadGenerated(page, 600);
        before = await jobId(page);
        await page.click("#examples-run");
        await page.waitForFunction((before) => {
          const s = document.getElementById("survey-status");
          return s.dataset.job !== before && s.dataset.state === "running";
        }, before, { timeout: 120_000 });
        const clicked = Date.now();
        await page.click("#survey-cancel");
        const cancelled = await waitForJob(page, before);
        check(cancelled.state === "cancelled", `after cancel the pass is ${cancelled.state}`);
        const cancelMs = Date.now() - clicked;
        check(cancelMs < 10_000, `cancelling took ${cancelMs} ms`);
        await env.shot(page, "survey-cancelled");
        env.log(`cancelled after ${cancelMs} ms: ${cancelled.stage}`);
        check(page.problems.length === 0, page.problems.join("\n"));
        await page.close();
      },
    },
    {
      name: "survey-files",
      async run(env) {
        const page = await newPage(env.context);
        await gotoImages(env, page);
        // A zip with a file that is not an image: skipped and named.
        const archive = zipStored({
          "set/shapes.png": fixtureImage(ROOT, "shapes.png"),
          "set/noise.png": fixtureImage(ROOT, "noise.png"),
          "set/notes.txt": Buffer.from("these are not pixels"),
        });
        await page.setInputFiles("#images-files", { name: "set.zip", mimeType: "application/zip", buffer: archive });
        await page.waitForSelector('#set-summary[data-images="2"]', { timeout: RUN_TIMEOUT });
        let summary = await page.textContent("#set-summary");
        check(/2 images; 1 file skipped \(set\/notes\.txt: not an image\)/.test(summary), `the zip's summary says "${summary}"`);
        check(await page.$eval("#set-summary", (p) => p.dataset.skipped === "1"), "the skipped count is not 1");
        await env.shot(page, "survey-zip-skipped");
        env.log(`zip: ${summary}`);
        // Files dropped on the page.
        const dt = await page.evaluateHandle(
          ([png, name]) => {
            const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
            const d = new DataTransfer();
            d.items.add(new File([bytes], name, { type: "image/png" }));
            d.items.add(new File(["hello"], "readme.md", { type: "text/markdown" }));
            return d;
          },
          [fixtureImage(ROOT, "gradient.png").toString("base64"), "gradient.png"],
        );
        await page.dispatchEvent("#drop-zone", "drop", { dataTransfer: dt });
        await page.waitForFunction(() => document.getElementById("set-summary")?.textContent.includes("readme.md"), null, { timeout: RUN_TIMEOUT });
        summary = await page.textContent("#set-summary");
        check(summary.includes("1 image; 1 file skipped (readme.md: not an image)"), `the drop's summary says "${summary}"`);
        env.log(`drop: ${summary}`);
        // Only files that are not images: a clear message, the set stays.
        const before = await jobId(page);
        await page.setInputFiles("#images-files", [
          { name: "a.txt", mimeType: "text/plain", buffer: Buffer.from("a") },
          { name: "b.csv", mimeType: "text/csv", buffer: Buffer.from("1,2") },
        ]);
        const failed = await waitForJob(page, before);
        check(failed.state === "error" && /the image set has no images \(2 files were skipped/.test(failed.error), `no images: ${failed.state} ${failed.error}`);
        await env.shot(page, "survey-no-images");
        env.log(`no images: ${failed.error}`);
        // A URL list (relative URLs, one missing image).
        await page.fill("#images-url", `${env.url}models/survey/list.txt`);
        await page.click("#images-url-load");
        await page.waitForSelector('#set-summary[data-images="2"]', { timeout: RUN_TIMEOUT });
        summary = await page.textContent("#set-summary");
        check(/2 images; 1 file skipped \(.*missing\.png: could not be fetched \(the server answered 404/.test(summary), `the list's summary says "${summary}"`);
        await env.shot(page, "survey-url-list");
        env.log(`URL list: ${summary}`);
        check(page.problems.length === 0, page.problems.join("\n"));
        await page.close();
      },
    },
    {
      name: "survey-atlas",
      async run(env) {
        const { name, mlp } = env.model;
        // The layer page's link: the atlas page builds at once (the built-in model's generated
        // set), with progress and cancel.
        let page = await newPage(env.context);
        await page.goto(`${env.url}#/${name}/${mlp.name}`);
        await page.click("#layer-atlas");
        await page.waitForSelector("#atlas-page", { timeout: 120_000 });
        await page.waitForSelector("#survey-status[data-state='running'] #survey-cancel:not([disabled])", { timeout: 120_000 });
        check(!(await page.$("#atlas-need-images")), "the layer page's atlas link asks for images");
        env.log(`the layer page's link builds at once: ${await page.textContent("#survey-stage")}`);
        await page.close();
        // A shared link opened in a fresh page (a new worker): the atlas is built without a click,
        // with progress and cancel, then shown at the link's level, centre and zoom.
        page = await newPage(env.context);
        const link = `#/${name}/${mlp.name}/atlas?level=1&x=0.4&y=0.6&zoom=2&samples=400&seed=1&levels=3,6&steps=8&min=2`;
        const t0 = Date.now();
        await page.goto(env.url + link);
        await page.waitForSelector("#atlas-page", { timeout: 120_000 });
        const seen = await watchJob(page);
        await page.waitForSelector("#survey-status[data-state='running'] #survey-cancel:not([disabled])", { timeout: 120_000 });
        check(!(await page.$("#atlas-need-images")), "the link asks for images");
        // Icons appear while the rest are still rendering.
        await page.waitForSelector("#atlas-canvas", { timeout: RUN_TIMEOUT });
        await page.waitForFunction(() => Number(document.getElementById("atlas-canvas")?.dataset.icons) > 0, null, { timeout: RUN_TIMEOUT, polling: 100 });
        const early = await page.evaluate(() => document.getElementById("survey-status").dataset.state);
        await env.shot(page, "survey-atlas-building");
        const job = await waitForJob(page, "");
        const seconds = (Date.now() - t0) / 1000;
        check(job.state === "done", `the atlas ended as ${job.state}: ${job.error ?? ""}`);
        const stages = [...seen].map((s) => s.split(":").slice(1).join(":")).filter(Boolean);
        for (const stage of ["images", "layout", "icons"]) check(stages.some((s) => s.startsWith(stage)), `no "${stage}" progress: ${stages.join(", ")}`);
        const canvas = () => page.$eval("#atlas-canvas", (c) => ({ ...c.dataset }));
        const atLink = await canvas();
        check(atLink.level === "1" && atLink.zoom === "2.000", `the link's view is level ${atLink.level} zoom ${atLink.zoom}`);
        const hash = await page.evaluate(() => location.hash);
        check(/level=1&x=0\.4&y=0\.6&zoom=2&/.test(hash) && hash.includes("&set=generated:200:7"), `the link became ${hash}`);
        // Every icon has arrived; those of the cells in view are drawn.
        await page.waitForFunction(() => {
          const c = document.getElementById("atlas-canvas").dataset;
          return Number(c.allIcons) === Number(c.allCells) && Number(c.icons) > 0;
        }, null, { timeout: 10_000 });
        await env.shot(page, "survey-atlas-link");
        env.log(`a link opened fresh built its atlas in ${seconds.toFixed(1)} s (icons first seen while ${early}); shown at level ${atLink.level}, zoom ${atLink.zoom}; the link is now ${hash}`);
        // The whole atlas.
        await page.click("#atlas-reset");
        const c1 = await canvas();
        check(c1.level === "0" && Number(c1.icons) === Number(c1.cells) && Number(c1.cells) > 1, `the canvas shows ${c1.icons} icons of ${c1.cells} cells at level ${c1.level}`);
        const stats = pixelStats(await canvasPixels(page, "#atlas-canvas"));
        check(stats.colors > 500 && stats.max - stats.min > 64, `the atlas canvas looks blank: ${JSON.stringify(stats)}`);
        const timings = await page.textContent("#atlas-timings");
        env.results.atlasSeconds = seconds;
        env.log(`atlas of ${mlp.name} (400 samples, grids 3 and 6, 8 icon steps): ${timings}; ${await page.textContent("#atlas-info")}`);
        // Export: a zip with the examples and the atlas, each icon's score in atlas.json.
        const exportZip = async (file) => {
          const [download] = await Promise.all([page.waitForEvent("download", { timeout: RUN_TIMEOUT }), page.click("#atlas-export")]);
          const zipPath = path.join(env.artifacts, file);
          await download.saveAs(zipPath);
          await page.waitForSelector("#survey-status[data-state='done']", { timeout: RUN_TIMEOUT });
          return { zipPath, name: download.suggestedFilename(), bytes: readFileSync(zipPath) };
        };
        const first = await exportZip("survey-export.zip");
        const zipPath = first.zipPath;
        const exported = first.bytes;
        const files = unzip(exported);
        const manifest = JSON.parse(files["manifest.json"]);
        check(manifest.format === "modalscope-export/1" && manifest.atlas_layer === mlp.name && manifest.examples === "examples.json", `manifest: ${files["manifest.json"]}`);
        const icons = Object.keys(files).filter((f) => f.startsWith("icons/")).length;
        check(icons === Number(c1.allCells) && icons === Number(c1.allIcons), `${icons} icons exported for ${c1.allCells} cells (${c1.allIcons} icons shown)`);
        const atlasDoc = JSON.parse(files["atlas.json"]);
        const cells = atlasDoc.levels.flatMap((l) => l.cells).filter((c) => c.icon);
        check(cells.length === icons && cells.every((c) => Number.isFinite(c.icon_score) && c.icon_specificity >= 0 && c.icon_specificity <= 1), `icon scores in atlas.json: ${JSON.stringify(cells.slice(0, 2).map((c) => [c.icon_score, c.icon_specificity]))}`);
        const meanSpecificity = cells.reduce((s, c) => s + c.icon_specificity, 0) / cells.length;
        env.log(`export: ${first.name}, ${exported.length} bytes, ${Object.keys(files).length} files (${icons} icons; mean icon specificity ${meanSpecificity.toFixed(2)})`);
        // The same settings built by hand give the same atlas, byte for byte.
        const before = await jobId(page);
        await page.click("#atlas-build");
        const manual = await waitForJob(page, before);
        check(manual.state === "done", `the manual build ended as ${manual.state}: ${manual.error ?? ""}`);
        const again = unzip((await exportZip("survey-export-manual.zip")).bytes);
        const atlasFiles = Object.keys(files).filter((f) => f === "atlas.json" || f.startsWith("icons/"));
        const differ = atlasFiles.filter((f) => !again[f] || Buffer.compare(again[f], files[f]) !== 0);
        check(differ.length === 0 && Object.keys(again).length === Object.keys(files).length, `the manual build differs from the link's in ${differ.slice(0, 5).join(", ")}`);
        env.log(`a manual build with the link's settings gives the same atlas.json and ${icons} icons, byte for byte`);
        // Hover: a cell's strongest units, linking to their neuron pages.
        // The whole canvas in the viewport (the mouse cannot reach what is scrolled away).
        const canvasBox = async () => {
          await page.$eval("#atlas-canvas", (c) => c.scrollIntoView({ block: "center" }));
          return (await page.$("#atlas-canvas")).boundingBox();
        };
        const box = await canvasBox();
        let units = [];
        let hoverAt;
        for (let i = 0; i < 36 && units.length === 0; i++) {
          const [gx, gy] = [(i % 6) + 0.5, Math.floor(i / 6) + 0.5];
          hoverAt = [gx / 6, gy / 6];
          await page.mouse.move(box.x + hoverAt[0] * box.width, box.y + hoverAt[1] * box.height);
          units = await page.$$eval("#atlas-tip a.tip-unit", (as) => as.map((a) => a.getAttribute("href")));
        }
        check(units.length === 8, `hovering shows ${units.length} units`);
        check(units.every((h) => new RegExp(`^#/${name}/${mlp.name.replaceAll(".", "\\.")}/\\d+$`).test(h)), `unit links: ${units.slice(0, 3)}`);
        const note = await page.textContent("#atlas-tip");
        check(note.includes("hidden layer"), `the tip does not say why there are no words: ${note}`);
        // The icon's score, as exported.
        const tipScore = () =>
          page.evaluate(() => {
            const t = document.getElementById("atlas-tip");
            const s = document.getElementById("atlas-tip-score");
            return { cell: t.dataset.cell, score: s?.dataset.score, specificity: s?.dataset.specificity, text: s?.textContent };
          });
        const hovered = await tipScore();
        const [hl, hc, hr] = hovered.cell.split(",").map(Number);
        const hoveredDoc = atlasDoc.levels[hl].cells.find((c) => c.col === hc && c.row === hr);
        check(hovered.text.includes("icon score") && Number(hovered.score) === hoveredDoc.icon_score && Number(hovered.specificity) === hoveredDoc.icon_specificity, `the tip says "${hovered.text}" (${hovered.score}, ${hovered.specificity}); the export ${hoveredDoc.icon_score}, ${hoveredDoc.icon_specificity}`);
        await env.shot(page, "survey-atlas-hover");
        env.log(`hover: ${units.length} units, first ${units[0]}; ${hovered.text}`);
        // Zoom in with the buttons and the wheel: a finer grid, the link follows; pan by dragging.
        await page.click("#atlas-zoom-in");
        await page.click("#atlas-zoom-in");
        // (Clicking may have scrolled the page.)
        const at = await canvasBox();
        await page.mouse.move(at.x + at.width * 0.3, at.y + at.height * 0.3);
        await page.mouse.wheel(0, -200);
        await page.waitForFunction(() => Number(document.getElementById("atlas-canvas").dataset.level) === 1, null, { timeout: 10_000 });
        const zoomed = await page.evaluate(() => location.hash);
        const zoom = Number(new URLSearchParams(zoomed.split("?")[1]).get("zoom"));
        check(zoom > 1.9 && zoomed.includes("level=1"), `after zooming the link is ${zoomed}`);
        await page.mouse.move(at.x + at.width * 0.5, at.y + at.height * 0.5);
        await page.mouse.down();
        await page.mouse.move(at.x + at.width * 0.3, at.y + at.height * 0.35, { steps: 5 });
        await page.mouse.up();
        const panned = await page.evaluate(() => location.hash);
        check(panned !== zoomed, "dragging did not move the view");
        await env.shot(page, "survey-atlas-zoomed");
        env.log(`zoomed and panned: ${panned}`);
        // The link reproduces the view (on the atlas the page holds).
        await page.goto(env.url + `#/${name}`);
        await page.goto(env.url + panned);
        await page.waitForSelector("#atlas-canvas");
        const c2 = await canvas();
        check(c2.level === "1" && Math.abs(Number(c2.zoom) - zoom) < 0.01, `the link shows level ${c2.level} zoom ${c2.zoom}`);
        check(page.problems.length === 0, page.problems.join("\n"));
        await page.close();

        // Import in a fresh page (a new worker): the atlas without recomputing.
        const fresh = await newPage(env.context);
        await gotoImages(env, fresh);
        const t1 = Date.now();
        await fresh.setInputFiles("#import-file", zipPath);
        await fresh.waitForSelector(`#import-summary[data-atlas="${mlp.name}"]`, { timeout: RUN_TIMEOUT });
        const importMs = Date.now() - t1;
        const imported = await fresh.textContent("#import-summary");
        await env.shot(fresh, "survey-imported");
        await fresh.click("#import-atlas");
        await fresh.waitForSelector("#atlas-canvas");
        await fresh.waitForFunction(() => Number(document.getElementById("atlas-canvas")?.dataset.icons) > 0, null, { timeout: 30_000 });
        const c3 = await fresh.$eval("#atlas-canvas", (c) => ({ ...c.dataset }));
        check(c3.icons === c1.icons && c3.allIcons === c1.allIcons, `the imported atlas shows ${c3.icons} (${c3.allIcons}) icons, not ${c1.icons} (${c1.allIcons})`);
        const s3 = pixelStats(await canvasPixels(fresh, "#atlas-canvas"));
        check(s3.colors > 500, "the imported atlas looks blank");
        check(!(await fresh.$("#survey-status[data-state='running']")), "the import computes something");
        // The import keeps the icons' scores.
        const fbox = await (async () => {
          await fresh.$eval("#atlas-canvas", (c) => c.scrollIntoView({ block: "center" }));
          return (await fresh.$("#atlas-canvas")).boundingBox();
        })();
        await fresh.mouse.move(fbox.x + hoverAt[0] * fbox.width, fbox.y + hoverAt[1] * fbox.height);
        await fresh.waitForSelector("#atlas-tip-score", { timeout: 10_000 });
        const back = await fresh.evaluate(() => ({
          cell: document.getElementById("atlas-tip").dataset.cell,
          score: document.getElementById("atlas-tip-score").dataset.score,
        }));
        check(back.cell === hovered.cell && back.score === hovered.score, `the imported tip of cell ${back.cell} has score ${back.score}, not ${hovered.score}`);
        await env.shot(fresh, "survey-imported-atlas");
        env.log(`import: ${imported.trim()} (${importMs} ms from picking the file to the summary)`);
        // Its examples show on a neuron page.
        await fresh.goto(`${env.url}#/${name}/${mlp.name}/3?steps=4`);
        await fresh.waitForSelector("#examples-strip", { timeout: 60_000 });
        const n = await fresh.$$eval("#examples-strip figure", (f) => f.length);
        check(n === 8, `the imported strip has ${n} examples`);
        await env.shot(fresh, "survey-imported-examples");
        // The same files served as a folder: imported from the manifest's URL.
        for (const [p, body] of Object.entries(files)) env.serve(`export/${p}`, body);
        await gotoImages(env, fresh);
        await fresh.fill("#import-url", `${env.url}models/export/manifest.json`);
        await fresh.click("#import-url-load");
        await fresh.waitForSelector(`#import-summary[data-atlas="${mlp.name}"]`, { timeout: RUN_TIMEOUT });
        env.log(`import from the manifest's URL: ${(await fresh.textContent("#import-summary")).trim()}`);
        // Bad imports say what is wrong.
        const bad = [
          ["not-a-zip", { name: "notes.zip", mimeType: "application/zip", buffer: Buffer.from("hello") }, "cannot read the zip archive"],
          ["no-manifest", { name: "x.zip", mimeType: "application/zip", buffer: zipStored({ "readme.txt": Buffer.from("x") }) }, "no `manifest.json`"],
          ["no-atlas", { name: "y.zip", mimeType: "application/zip", buffer: zipStored({ "manifest.json": files["manifest.json"], ...Object.fromEntries(Object.entries(files).filter(([p]) => p.startsWith("images/") || p === "examples.json")) }) }, "no `atlas.json`"],
          ["wrong-format", { name: "z.zip", mimeType: "application/zip", buffer: zipStored({ "manifest.json": Buffer.from('{"format":"something/9","model":"m"}') }) }, "format `something/9`"],
        ];
        for (const [label, file, needle] of bad) {
          await fresh.setInputFiles("#import-file", file);
          await fresh.waitForFunction((needle) => document.getElementById("survey-error")?.textContent.includes(needle), needle, { timeout: 60_000 });
          const text = await fresh.textContent("#survey-error");
          if (label === "no-atlas") await env.shot(fresh, "survey-bad-import");
          env.log(`${label}: ${text}`);
        }
        await fresh.fill("#import-url", `${env.url}models/export/nothing.json`);
        await fresh.click("#import-url-load");
        await fresh.waitForFunction(() => document.getElementById("survey-error")?.textContent.includes("404"), null, { timeout: 60_000 });
        env.log(`missing manifest URL: ${await fresh.textContent("#survey-error")}`);
        check(fresh.problems.length === 0, fresh.problems.join("\n"));
        await fresh.close();
      },
    },
    {
      name: "survey-atlas-cancel",
      async run(env) {
        const { name, mlp } = env.model;
        const page = await newPage(env.context);
        // A link whose layout takes a while (4000 vectors): cancelled during the layout, the job
        // stops at once (the worker steps the layout and answers between steps).
        await page.goto(`${env.url}#/${name}/${mlp.name}/atlas?samples=4000&seed=3&levels=3&steps=8&min=2`);
        await page.waitForSelector("#atlas-page", { timeout: 120_000 });
        const stageNow = () => page.evaluate(() => document.getElementById("survey-status")?.dataset.stage ?? "");
        await page.waitForFunction(() => (document.getElementById("survey-status")?.dataset.stage ?? "").startsWith("layout: "), null, { timeout: RUN_TIMEOUT, polling: 20 });
        const layoutSeen = Date.now();
        // Well into the layout.
        await page.waitForTimeout(1500);
        const stage = await page.textContent("#survey-stage");
        check((await stageNow()).startsWith("layout: "), `the layout ended before the cancel: ${stage}`);
        const clicked = Date.now();
        await page.click("#survey-cancel");
        await page.waitForSelector("#survey-status[data-state='cancelled']", { timeout: 60_000 });
        const cancelMs = Date.now() - clicked;
        check(cancelMs < 2000, `cancelling the layout took ${cancelMs} ms`);
        check(!(await page.$("#atlas-canvas")), "a cancelled layout shows an atlas");
        check(await page.$("#atlas-build:not([disabled])"), "after the cancel the atlas cannot be built");
        env.results.layoutCancelMs = cancelMs;
        await env.shot(page, "survey-atlas-layout-cancelled");
        env.log(`cancelled ${((clicked - layoutSeen) / 1000).toFixed(1)} s into the layout (${stage.trim()}): stopped ${cancelMs} ms after the click`);
        // A link to an atlas of its author's own images: the page says they are missing, links
        // the image-set page and keeps the build form; nothing runs.
        const before = await jobId(page);
        await page.goto(`${env.url}#/${name}/${mlp.name}/atlas?samples=300&seed=0&set=files:0123456789abcdef`);
        await page.waitForSelector("#atlas-need-images", { timeout: 30_000 });
        const need = await page.textContent("#atlas-need-images");
        check(need.includes("own image files") && need.includes("0123456789abcdef"), `the page says: ${need}`);
        check(!(await page.$("#atlas-need-generated")), "generated images are offered for the author's own");
        check(await page.$("#atlas-settings #atlas-build"), "no build form");
        check((await jobId(page)) === before, "a job started");
        await env.shot(page, "survey-atlas-needs-images");
        env.log(`own images: ${need.trim()}`);
        await page.click("#atlas-need-link");
        await page.waitForSelector("#drop-zone", { timeout: 30_000 });
        check(page.problems.length === 0, page.problems.join("\n"));
        await page.close();
      },
    },
  ];
}

