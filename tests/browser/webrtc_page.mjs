// Opens the facegan-live page in headless chromium, waits for decoded frames, moves the yaw offset slider
// and reports how much the picture changed. Prints one JSON line. Usage: node webrtc_page.mjs URL
import { chromium } from "playwright-core";

const url = process.argv[2];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--allow-loopback-in-peer-connection"],
});
const result = {};
try {
  const page = await browser.newPage();
  await page.goto(url);
  // The sender's bitrate (and so the picture's sharpness) ramps up over the first seconds: measure after it.
  await page.waitForFunction(() => window.__facegan.framesDecoded >= 100, null, { timeout: 30000 });
  const grab = () => page.evaluate(() => {
    const v = document.getElementById("video");
    const c = document.createElement("canvas");
    c.width = 64; c.height = 48;  // downscaled: averages away the codec's fine noise, keeps the warp
    const ctx = c.getContext("2d");
    ctx.drawImage(v, 0, 0, 64, 48);
    return Array.from(ctx.getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 !== 3));
  });
  const meanDiff = (a, b) => a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0) / a.length;
  const a = await grab();
  await page.waitForTimeout(1500);  // the same interval as after the slider moves
  const b = await grab();
  result.frames = await page.evaluate(() => window.__facegan.framesDecoded);
  result.size = await page.evaluate(() => [document.getElementById("video").videoWidth,
                                           document.getElementById("video").videoHeight]);
  result.diff_still = meanDiff(a, b);
  await page.locator("#offset-yaw").fill("40");  // fires "input": POST /edit
  await page.waitForTimeout(1500);
  const c = await grab();
  result.diff_slider = meanDiff(b, c);
  result.sliders = await page.locator("#sliders tr").count();
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
