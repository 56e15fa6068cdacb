// The live page in a real browser (DESIGN §10): Debian's chromium, headless,
// driven by playwright-core. A 3-node cluster from deploy/local-cluster;
// the page of sip1 is loaded once and never reloaded while a phone
// registers at sip3 (sipsak) and sip3 is killed with SIGKILL.
//   node live_page.mjs OUTDIR     (TCNODE: the tcnode to run)
// Exit 0 pass, 1 fail, 77 skip (chromium cannot start here).
import { chromium } from 'playwright-core';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const outDir = path.resolve(process.argv[2] || 'browser-out');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const WAIT_MS = 20000;
fs.mkdirSync(outDir, { recursive: true });
const clusterDir = fs.mkdtempSync(path.join(outDir, 'cluster-'));

// A base port P with P+10..P+34 free: the cluster's three nodes.
async function freeBase() {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (let i = 1; i <= 3 && ok; i++) {
      for (let j = 0; j <= 4 && ok; j++) ok = await portFree(base + 10 * i + j);
    }
    if (ok) return base;
  }
  throw new Error('no free ports');
}
function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
const cluster = (...args) =>
  execFileSync(path.join(repo, 'deploy/local-cluster'), [...args, '--dir', clusterDir], {
    stdio: ['ignore', 'pipe', 'inherit'], timeout: 60000,
  }).toString();

let browser;
let failed = false;
try {
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
    });
  } catch (e) {
    console.log(`SKIP: chromium (${CHROMIUM}) cannot start: ${e.message.split('\n')[0]}`);
    process.exit(77);
  }
  // A port found free may be taken before the nodes bind it (the range
  // overlaps the ephemeral ports other programs connect from): try again
  // elsewhere, a bounded number of times.
  let base;
  for (let attempt = 1; ; attempt++) {
    base = await freeBase();
    try {
      console.log(cluster('up', '-n', '3', '--base-port', String(base)).trim());
      break;
    } catch (e) {
      try { cluster('down'); } catch { /* nothing up */ }
      if (attempt === 3) throw e;
      console.log(`cluster up at base port ${base} failed (a port was taken?), trying another`);
    }
  }
  const http1 = base + 14, sip3 = base + 30;
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => {
    if (!r.url().startsWith(`http://127.0.0.1:${http1}/`)) errors.push('fetched from outside: ' + r.url());
  });
  let loads = 0;
  page.on('load', () => loads++);
  await page.goto(`http://127.0.0.1:${http1}/`);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: WAIT_MS });
  await page.waitForSelector('tr[data-node="sip3"][data-link="up"]', { timeout: WAIT_MS });
  await page.fill('#q', '1000-1004');
  await page.click('#search button');
  await page.waitForSelector('tr[data-dn="1001"][data-status="oos"]', { timeout: WAIT_MS });
  console.log('page loaded; DN 1001 OOS, all links up');

  const r = spawnSync('timeout', ['10', 'sipsak', '-i', '-U', '-s', `sip:1001@127.0.0.1:${sip3}`, '-x', '300'],
    { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`sipsak exited ${r.status}`);
  await page.waitForSelector('tr[data-dn="1001"][data-status="insrv"][data-owner="sip3"]', { timeout: WAIT_MS });
  await page.waitForSelector('#feed li[data-type="dn"]', { timeout: WAIT_MS });
  console.log('DN 1001 turned InSrv (owner sip3) without a reload');

  const pid = Number(fs.readFileSync(path.join(clusterDir, 'sip3.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  await page.waitForSelector('tr[data-node="sip3"][data-link="down"]', { timeout: WAIT_MS });
  await page.waitForSelector('tr[data-dn="1001"][data-status="oos"][data-owner="sip3"]', { timeout: WAIT_MS });
  await page.waitForSelector('#feed li[data-type="link"]', { timeout: WAIT_MS });
  console.log('sip3 killed: its link went down and DN 1001 went OOS without a reload');

  if (loads !== 1) throw new Error(`the page loaded ${loads} times`);
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  const shot = path.join(outDir, 'live_page.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
} catch (e) {
  failed = true;
  console.error('FAIL:', e.message);
  try {
    const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
    if (pages.length) {
      const shot = path.join(outDir, 'live_page_failed.png');
      await pages[0].screenshot({ path: shot, fullPage: true });
      console.error(`screenshot: ${shot}`);
    }
  } catch { /* nothing more to show */ }
} finally {
  if (browser) await browser.close().catch(() => {});
  try { cluster('down'); } catch { /* already down */ }
  for (const f of fs.readdirSync(clusterDir)) {
    if (failed && f.endsWith('.log')) console.error(`--- ${f}\n` + fs.readFileSync(path.join(clusterDir, f), 'utf8').slice(-3000));
  }
  if (!failed) fs.rmSync(clusterDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
