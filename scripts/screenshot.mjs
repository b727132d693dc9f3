// Open the report in headless Chromium with the network shut, wait until it has drawn everything, take
// screenshots of chosen elements and write what the page shows as JSON (for tests and `make images`).
//
//   node scripts/screenshot.mjs --page report.html --json out.json [--shot NAME=CSS-SELECTOR=FILE.png ...]
//       [--full FILE.png] [--width 1500] [--click CSS-SELECTOR ...]
//
// --click clicks every element the selector matches after the screenshots and records the graphs again
// (`graphsAfterClick`): the report's "Actual size" buttons, for instance.
//
// Environment (from .tools/pictures.env, written by scripts/ensure-pictures.sh): MLPLATFORM_JS (the npm
// install holding puppeteer-core) and MLPLATFORM_PUPPETEER_CONFIG (the system Chromium and its flags).
// Every request that is not the page itself, a data: or a blob: URL is aborted and listed in the JSON:
// the report must draw with nothing fetched. Exit 0 drawn, 1 not drawn (error, timeout, blocked request).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(resolve(process.env.MLPLATFORM_JS, "package.json"));
const puppeteer = require("puppeteer-core");

function parse(argv) {
  const opts = { shots: [], clicks: [], width: 1500, timeout: 60000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--page") opts.page = value;
    else if (flag === "--json") opts.json = value;
    else if (flag === "--full") opts.full = value;
    else if (flag === "--width") opts.width = Number(value);
    else if (flag === "--click") opts.clicks.push(value);
    else if (flag === "--shot") {
      const [name, selector, file] = value.split("=");
      opts.shots.push({ name, selector, file });
    } else throw new Error(`unknown argument ${flag}`);
  }
  if (!opts.page || !opts.json) throw new Error("--page and --json are required");
  return opts;
}

const opts = parse(process.argv.slice(2));

// Each Mermaid graph: drawn into one SVG, its nodes, and how wide it is drawn against the box holding it and
// its natural width (the viewBox Mermaid computed): the page must fit it in the box, not crop it.
function graphFacts() {
  return Array.from(document.querySelectorAll("pre.mermaid")).map((e) => {
    const svg = e.querySelector("svg");
    const box = e.closest(".graph") || e.parentElement;
    const style = getComputedStyle(box);
    return {
      id: e.id,
      svg: e.querySelectorAll("svg").length,
      nodes: e.querySelectorAll("g.node").length,
      width: svg ? svg.getBoundingClientRect().width : 0,
      natural: svg && svg.viewBox.baseVal ? svg.viewBox.baseVal.width : 0,
      // the box's content width: clientWidth holds the padding, the svg sits inside it
      box: box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      scrolls: box.scrollWidth > box.clientWidth,
    };
  });
}

const launch = JSON.parse(readFileSync(process.env.MLPLATFORM_PUPPETEER_CONFIG, "utf8"));
const pageUrl = pathToFileURL(resolve(opts.page)).href;
const browser = await puppeteer.launch({ ...launch, userDataDir: undefined });
const result = { url: pageUrl, blocked: [], console: [], shots: {} };
let status = 1;
try {
  const page = await browser.newPage();
  await page.setViewport({ width: opts.width, height: 1000, deviceScaleFactor: 1 });
  await page.setRequestInterception(true);
  page.on("request", (request) => {
    const url = request.url();
    if (url === pageUrl || url.startsWith("data:") || url.startsWith("blob:")) {
      request.continue();
    } else {
      result.blocked.push(url);
      request.abort("blockedbyclient");
    }
  });
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") {
      result.console.push(`${message.type()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => result.console.push(`pageerror: ${error.message}`));
  const started = Date.now();
  await page.goto(pageUrl, { waitUntil: "load", timeout: opts.timeout });
  await page.waitForFunction(() => document.body.dataset.rendered !== "pending", { timeout: opts.timeout });
  result.draw_ms = Date.now() - started;
  Object.assign(
    result,
    await page.evaluate(() => ({
      rendered: document.body.dataset.rendered,
      error: document.getElementById("render-error").textContent,
      text: document.body.innerText,
      // Vega writes each mark's description as its aria-label; Mermaid writes node labels as SVG text.
      aria: Array.from(document.querySelectorAll(".vega [aria-label]")).map((e) => e.getAttribute("aria-label")),
      svgText: Array.from(document.querySelectorAll("svg text, svg foreignObject")).map((e) => e.textContent),
      charts: Array.from(document.querySelectorAll(".vega")).map((e) => ({
        id: e.id,
        svg: e.querySelectorAll("svg").length,
        width: e.getBoundingClientRect().width,
        height: e.getBoundingClientRect().height,
      })),
      // Any element that would load something from elsewhere (none should exist).
      remote: Array.from(document.querySelectorAll("[src], link[href]"))
        .map((e) => e.getAttribute("src") || e.getAttribute("href"))
        .filter((u) => /^(https?:)?\/\//i.test(u)),
    })),
  );
  result.graphs = await page.evaluate(graphFacts);
  for (const shot of opts.shots) {
    const element = await page.$(shot.selector);
    if (!element) throw new Error(`no element matches ${shot.selector}`);
    // Open any <details> inside, so a screenshot shows what it holds.
    await element.screenshot({ path: shot.file });
    result.shots[shot.name] = shot.file;
  }
  if (opts.full) {
    await page.screenshot({ path: opts.full, fullPage: true });
    result.shots.full = opts.full;
  }
  if (opts.clicks.length) {
    for (const selector of opts.clicks) {
      for (const element of await page.$$(selector)) await element.click();
    }
    result.graphsAfterClick = await page.evaluate(graphFacts);
  }
  status = result.rendered === "ok" && result.blocked.length === 0 && result.remote.length === 0 ? 0 : 1;
} catch (error) {
  result.failure = String(error);
} finally {
  await browser.close();
  writeFileSync(opts.json, JSON.stringify(result, null, 1));
}
process.exit(status);
