/**
 * Renders assets/icon.svg to the PNG sizes the installers need, with Debian's
 * Chromium: assets/icons/<n>x<n>.png (Linux) and assets/icon.png (1024 px,
 * converted to .ico / .icns by electron-builder). Run: npx tsx scripts/make-icons.ts
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const assets = join(import.meta.dirname, "..", "assets");
const svg = readFileSync(join(assets, "icon.svg"), "utf8");
const SIZES = [16, 24, 32, 48, 64, 128, 256, 512, 1024];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
  ],
});
mkdirSync(join(assets, "icons"), { recursive: true });
for (const size of SIZES) {
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  const sized = svg.replace('width="512" height="512"', `width="${size}" height="${size}"`);
  await page.setContent(
    `<html><body style="margin:0;background:transparent">${sized}</body></html>`,
  );
  const out =
    size === 1024 ? join(assets, "icon.png") : join(assets, "icons", `${size}x${size}.png`);
  await page.screenshot({
    path: out,
    omitBackground: true,
    clip: { x: 0, y: 0, width: size, height: size },
  });
  await page.close();
  console.log(out);
}
await browser.close();
