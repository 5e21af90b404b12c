#!/usr/bin/env node
// Drives the real ComfyUI frontend (the one the server serves) in headless Debian chromium via playwright-core.
// Used by tools/build_workflows.py (API twin -> UI workflow + thumbnail, serialized by the frontend itself) and by
// tests/test_browser_workflows.py (UI workflow dropped on the canvas, converted, queued from the Run button).
// tools/frontend.py finds node, playwright-core and chromium and runs this; it is not meant to be run by hand.
//
//   node tools/frontend.mjs build|check --url URL --jobs JOBS.json --out DIR --chromium PATH --modules DIR
//
// build job: {name, title, note, api}        -> DIR/<name>.json (graphToPrompt().workflow), DIR/<name>.png,
//                                               DIR/<name>.output.json (graphToPrompt().output, for a self-check)
// check job: {name, file, budget, mute, queue} -> one entry of DIR/results.json (see checkOne)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const args = parseArgs(process.argv.slice(2));
// playwright-core lives in a cache outside the repo (tools/frontend.py installs it); ESM ignores NODE_PATH.
const { chromium } = createRequire(path.join(args.modules, 'noop.js'))('playwright-core');

// The network is closed: every feature that phones home is off. --no-sandbox because CI runs as root.
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-default-apps',
  '--disable-extensions', '--disable-dev-shm-usage'];
// Per-user settings written before the page loads. Both modes: no first-run template dialog over the canvas.
// build (thumbnails): the canvas alone (no minimap, canvas menu, fps info or workflow tabs), full node detail at
// any zoom, and the saved view (extra.ds) restored when a user opens the workflow.
const SETTINGS = {
  check: { 'Comfy.TutorialCompleted': true },
  build: { 'Comfy.TutorialCompleted': true, 'Comfy.Minimap.Visible': false, 'Comfy.Graph.CanvasMenu': false,
    'Comfy.Graph.CanvasInfo': false, 'Comfy.Workflow.WorkflowTabsPosition': 'Sidebar',
    'LiteGraph.Canvas.MinFontSizeForLOD': 0, 'Comfy.EnableWorkflowViewRestore': true },
};
const VIEWPORT = { width: 1600, height: 1000 };
const NOTE_WIDTH = 640;

function parseArgs(argv) {
  const out = { mode: argv[0] };
  for (let i = 1; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['url', 'jobs', 'out', 'chromium', 'modules'])
    if (!out[k]) throw new Error(`frontend.mjs: missing --${k}`);
  return out;
}

async function openApp(browser, log) {
  const page = await browser.newPage({ viewport: VIEWPORT });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('response', (r) => { if (r.status() >= 400) log.push(`http ${r.status()}: ${r.request().method()} ${r.url()}`); });
  const resp = await page.request.post(`${args.url}/api/settings`, { data: SETTINGS[args.mode] ?? {} });
  if (!resp.ok()) throw new Error(`POST /api/settings -> ${resp.status()}`);
  await page.goto(args.url);
  await page.waitForFunction(() => window.app?.graph && window.app.vueAppReady && window.app.canvas, null,
    { timeout: 180_000 });
  // Observe (not change) when a load finishes: handleFile -> FileReader -> app.loadGraphData is asynchronous.
  await page.evaluate(() => {
    const app = window.app;
    const load = app.loadGraphData.bind(app);
    window.__unlockLoads = [];
    app.loadGraphData = async (...a) => {
      try { const r = await load(...a); window.__unlockLoads.push({ ok: true }); return r; }
      catch (e) { window.__unlockLoads.push({ ok: false, error: String(e?.stack || e) }); throw e; }
    };
  });
  return page;
}

// ---------------------------------------------------------------------------------------------------------------
// build: API twin -> laid-out canvas with a note -> the frontend's own serialization + a screenshot

async function buildOne(page, job) {
  await page.evaluate(({ name, title, note, api, NOTE_WIDTH }) => {
    const app = window.app;
    app.loadApiJson(api, name);  // what dropping the API file does; opens a workflow tab named <name>
    // A shipped workflow restores the same way every time: seeds stay as written (the frontend's default for a
    // new node is "randomize", which would change them after each run).
    for (const n of app.graph.nodes)
      for (const w of n.widgets ?? []) if (w.name === 'control_after_generate') w.value = 'fixed';
    const noteNode = window.LiteGraph.createNode('MarkdownNote');
    noteNode.title = title;
    noteNode.widgets.find((w) => w.name === 'text').value = note;
    noteNode.size = [NOTE_WIDTH, 2000];  // measured below, once the markdown is rendered
    app.graph.add(noteNode);
    window.__unlockNote = noteNode;
    app.canvas.ds.scale = 1;
    app.graph.setDirtyCanvas(true, true);
  }, { ...job, NOTE_WIDTH });
  await settle(page);
  const viewport = await page.evaluate((NOTE_WIDTH) => {
    const app = window.app;
    const LiteGraph = window.LiteGraph;
    const noteNode = window.__unlockNote;
    const nodes = app.graph.nodes.filter((n) => n !== noteNode);
    // The rendered markdown's own height (its box is stretched to the node): top of the box to the bottom of its
    // last block, in screen pixels at scale 1, i.e. canvas units.
    const box = noteNode.widgets[0].element;
    const blocks = [...(box?.querySelectorAll('.tiptap > *, .ProseMirror > *') ?? [])];
    const textHeight = blocks.length
      ? Math.max(...blocks.map((b) => b.getBoundingClientRect().bottom)) - box.getBoundingClientRect().top : 400;
    noteNode.size = [NOTE_WIDTH, Math.max(120, textHeight / app.canvas.ds.scale + 24)];

    // Layout, left to right: a node's column is one past its deepest input; a source (loader, noise, sampler)
    // sits one column before its first consumer, next to it. In a column, nodes follow the mean height of what
    // feeds them (fewer crossings), sources go below, API order breaks ties. Sizes: at least the frontend's own
    // minimum, wider for readable widgets, taller where an image or video preview appears. The note goes on top,
    // where reading starts, and keeps the picture closer to the template browser's square cards.
    const TITLE = LiteGraph.NODE_TITLE_HEIGHT, GAP_X = 90, GAP_Y = 50;
    const PREVIEW = new Set(['LoadImage', 'SaveImage', 'PreviewImage', 'LoadVideo', 'SaveVideo']);
    const preds = (n) => (n.inputs ?? []).map((_, i) => n.getInputNode(i)).filter(Boolean);
    const consumers = (n) => nodes.filter((m) => preds(m).includes(n));
    const depth = new Map();
    const depthOf = (n) => {
      if (!depth.has(n.id)) { depth.set(n.id, 0); depth.set(n.id, Math.max(-1, ...preds(n).map(depthOf)) + 1); }
      return depth.get(n.id);
    };
    nodes.forEach(depthOf);
    for (const n of nodes)
      if (!preds(n).length && consumers(n).length)
        depth.set(n.id, Math.max(0, Math.min(...consumers(n).map((m) => depth.get(m.id))) - 1));
    for (const n of nodes) {
      const min = n.computeSize();
      n.size[0] = Math.max(min[0], 300);
      n.size[1] = Math.max(min[1], PREVIEW.has(n.type) ? 320 : 0);
    }
    noteNode.pos = [0, TITLE];
    const top = TITLE + noteNode.size[1] + GAP_Y;
    const columns = [];
    for (const n of nodes) (columns[depth.get(n.id)] ??= []).push(n);
    const centre = (n) => n.pos[1] + n.size[1] / 2;
    const key = (n) => { const p = preds(n); return p.length ? p.reduce((s, q) => s + centre(q), 0) / p.length : Infinity; };
    let x = 0;
    for (const col of columns.filter(Boolean)) {
      col.sort((a, b) => key(a) - key(b) || a.id - b.id);
      let y = top;
      for (const n of col) { n.pos = [x, y + TITLE]; y += TITLE + n.size[1] + GAP_Y; }
      x += Math.max(...col.map((n) => n.size[0])) + GAP_X;
    }
    const all = app.graph.nodes;
    const x0 = Math.min(...all.map((n) => n.pos[0])), y0 = Math.min(...all.map((n) => n.pos[1] - TITLE));
    const x1 = Math.max(...all.map((n) => n.pos[0] + n.size[0])), y1 = Math.max(...all.map((n) => n.pos[1] + n.size[1]));
    return [x0, y0, x1 - x0, y1 - y0];
  }, NOTE_WIDTH);
  // The page takes the graph's proportions (within 16:9 to 1:1), so the thumbnail is mostly graph.
  const [, , bw, bh] = viewport;
  const height = Math.round(Math.min(VIEWPORT.width, Math.max(VIEWPORT.width * 9 / 16, VIEWPORT.width * bh / bw)));
  await page.setViewportSize({ width: VIEWPORT.width, height });
  await settle(page);
  await page.evaluate((bounds) => {
    // The view a user gets on opening it (extra.ds, as the frontend's Export adds) and the thumbnail's framing.
    window.app.canvas.ds.fitToBounds(bounds, { zoom: 0.96 });
    window.app.graph.setDirtyCanvas(true, true);
  }, viewport);
  await settle(page);
  // Focus mode keeps one button (back to the menus) over the canvas; it is no part of the workflow.
  await page.screenshot({ path: path.join(args.out, `${job.name}.png`), type: 'png',
    style: '.comfy-menu-hamburger { visibility: hidden !important; }' });
  const { workflow, output } = await page.evaluate(async () => {
    const app = window.app;
    const p = await app.graphToPrompt();
    const { offset, scale } = app.canvas.ds;
    p.workflow.extra ??= {};
    p.workflow.extra.ds = { scale, offset: [offset[0], offset[1]] };
    return p;
  });
  workflow.extra.unlock_restore = { name: job.name, title: job.title };
  fs.writeFileSync(path.join(args.out, `${job.name}.json`), JSON.stringify(workflow, null, 2) + '\n');
  fs.writeFileSync(path.join(args.out, `${job.name}.output.json`), JSON.stringify(output, null, 2) + '\n');
}

// Two animation frames and a short pause: DOM widgets (the markdown note, previews) follow the canvas a frame late.
// Bounded in the page: a headless renderer that stops producing frames must not hang the run.
async function settle(page, ms = 400) {
  await page.evaluate(() => new Promise((r) => {
    requestAnimationFrame(() => requestAnimationFrame(r));
    setTimeout(r, 2000);
  }));
  await page.waitForTimeout(ms);
}

// A step that never settles (page.evaluate has no timeout of its own) becomes an error naming the step.
const JOB_TIMEOUT_MS = 420_000;  // the longest legitimate waits below add up to 6 minutes
let step = '';  // the step of checkOne under way, for the timeout's message
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the page within ${ms / 1000} s (at: ${step})`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------------------------
// check: drop the UI file on the canvas as a user does; record what the frontend makes of it; budget; Run.

async function checkOne(page, job, log) {
  const res = { name: job.name, loaded: null, queued: null, response: null, error: null, log: [] };
  const mark = log.length;
  try {
    const text = fs.readFileSync(job.file, 'utf8');
    const expected = JSON.parse(text).nodes.length;
    step = 'drop';
    const before = await page.evaluate(() => window.__unlockLoads.length);
    await page.evaluate(({ text, fileName }) => {
      // A real drop event carrying the file, dispatched on the canvas element; it bubbles to the document
      // listener ComfyUI registers for drag-and-drop (app.#addDropHandler -> handleFile).
      const dt = new DataTransfer();
      dt.items.add(new File([text], fileName, { type: 'application/json' }));
      const target = window.app.canvas.canvas;
      for (const type of ['dragenter', 'dragover', 'drop'])
        target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }, { text, fileName: path.basename(job.file) });
    await page.waitForFunction((n) => window.__unlockLoads.length > n, before, { timeout: 60_000 });
    const load = await page.evaluate(() => window.__unlockLoads.at(-1));
    if (!load.ok) throw new Error(`loadGraphData failed after the drop: ${load.error}`);
    const count = await page.evaluate(() => window.app.graph.nodes.length);
    if (count !== expected) throw new Error(`the dropped file has ${expected} nodes, the canvas ${count}`);
    step = 'settle and graphToPrompt';
    await settle(page);
    res.loaded = await page.evaluate(async () => (await window.app.graphToPrompt()).output);

    // The CPU budget: those widgets' values, set as a user would; and nodes muted (Ctrl+M) where told.
    step = 'budget';
    const problems = await page.evaluate(({ budget, mute }) => {
      const errs = [];
      for (const n of window.app.graph.nodes) {
        for (const [input, value] of Object.entries(budget[n.type] ?? {})) {
          const w = n.widgets?.find((x) => x.name === input);
          if (!w) { errs.push(`node ${n.id} (${n.type}) has no widget '${input}'`); continue; }
          w.value = value;
          w.callback?.(value);
        }
        // By type or by node id. LGraphEventMode.NEVER: left out of the prompt.
        if (mute.includes(n.type) || mute.includes(String(n.id))) n.mode = 2;
      }
      window.app.graph.setDirtyCanvas(true, true);
      return errs;
    }, { budget: job.budget ?? {}, mute: job.mute ?? [] });
    if (problems.length) throw new Error(`applying the test budget: ${problems.join('; ')}`);

    if (job.queue) {
      // The Run button: frontend 1.27 puts the test id on a wrapper around it, 1.43 on the button itself.
      const button = page.locator('[data-testid="queue-button"] button, button[data-testid="queue-button"]').first();
      // Generous waits: on a loaded 2-core machine the 1.43 frontend can take well over 30 s to settle after a
      // load (measured: every click timed out at 30 s while other test processes ran; alone it takes seconds).
      step = 'queue';
      await button.waitFor({ state: 'visible', timeout: 120_000 });
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/api/prompt') && r.request().method() === 'POST',
          { timeout: 180_000 }),
        button.click({ timeout: 150_000 }),
      ]);
      res.queued = response.request().postDataJSON();
      let body = null;
      try { body = await response.json(); } catch { body = await response.text(); }
      res.response = { status: response.status(), body };
      await settle(page, 200);
    }
  } catch (e) {
    res.error = String(e?.stack || e);
  }
  res.log = log.slice(mark);
  return res;
}

// ---------------------------------------------------------------------------------------------------------------

const jobs = JSON.parse(fs.readFileSync(args.jobs, 'utf8'));
fs.mkdirSync(args.out, { recursive: true });
const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: CHROMIUM_FLAGS });
const log = [];
let failed = false;
try {
  const page = await openApp(browser, log);
  if (args.mode === 'build') {
    for (const job of jobs) {
      // A fresh page per workflow: the frontend keys image previews by node id, and ids repeat across workflows.
      const p = job === jobs[0] ? page : await openApp(browser, log);
      // Focus mode hides the menus and side bars: the thumbnail shows the canvas only.
      await p.evaluate(() => window.app.extensionManager.command.execute('Workspace.ToggleFocusMode'));
      await buildOne(p, job);
      await p.close();
      console.log(`built ${job.name}`);
    }
  } else if (args.mode === 'check') {
    const results = [];
    let current = page;
    for (const job of jobs) {
      let r;
      try {
        r = await withTimeout(checkOne(current, job, log), JOB_TIMEOUT_MS, job.name);
      } catch (e) {
        // A hung page (measured once on a 2-core machine: no step answered for 10 minutes, while the same job
        // alone on the same server took a minute). The job runs again, whole, on a fresh page; the first try's
        // hang stays in the browser log.
        log.push(`retry ${job.name} on a fresh page: ${e.message}`);
        console.log(`retry ${job.name}: ${e.message}`);
        await current.close().catch(() => {});
        current = await openApp(browser, log);
        r = await withTimeout(checkOne(current, job, log), JOB_TIMEOUT_MS, job.name);
      }
      results.push(r);
      console.log(`checked ${job.name}: ${r.error ? 'ERROR ' + r.error.split('\n')[0] : 'ok'}`);
    }
    fs.writeFileSync(path.join(args.out, 'results.json'), JSON.stringify(results, null, 1));
  } else {
    throw new Error(`unknown mode ${args.mode}`);
  }
} catch (e) {
  failed = true;
  console.error(`frontend.mjs ${args.mode} failed: ${e?.stack || e}\n--- browser log ---\n${log.join('\n')}`);
} finally {
  fs.writeFileSync(path.join(args.out, 'browser.log'), log.join('\n') + '\n');
  await browser.close();
}
process.exit(failed ? 1 : 0);
