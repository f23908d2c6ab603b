// Opens the facegan-live page in headless chromium, waits for decoded frames, moves the yaw offset slider
// and reports how much the picture changed; reads what the page shows (labels, values, a refused upload, the
// menu after another client changes it); then, from a page on another origin (EVIL_URL), tries to drive the
// server as a hostile web page would. Prints one JSON line. Usage: node webrtc_page.mjs URL EVIL_URL
import { chromium } from "playwright-core";

const url = process.argv[2];
const evilUrl = process.argv[3];
// an 8x8 grey PNG: a picture the server decodes (what it makes of it is the test's on_upload)
const SMALL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAJElEQVQIHW3BAQEAAAABIP4fa5YDqshT5CnyFHmKPEWeIk+RZxykEskvcOowAAAAAElFTkSuQmCC";
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
  result.labels = await page.locator("#sliders th").allTextContents();
  result.yaw_value = await page.locator("#offset-yaw-value").textContent();
  result.gain_value = await page.locator("#gain-AU12-value").textContent();
  // a refused upload is shown as a sentence
  await page.locator("#background-file").setInputFiles({ name: "x.png", mimeType: "image/png",
                                                          buffer: Buffer.from("not a picture") });
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("did not work"),
                             null, { timeout: 10000 });
  result.refusal = await page.locator("#message").textContent();
  // an accepted source photo that limits the result says why on the page
  await page.locator("#source-file").setInputFiles({ name: "me.png", mimeType: "image/png",
                                                      buffer: Buffer.from(SMALL_PNG, "base64") });
  await page.waitForFunction(() => document.getElementById("message").textContent.includes("done"),
                             null, { timeout: 10000 });
  result.source_note = await page.locator("#message").textContent();
  result.picture_option = await page.locator('#background option[value="image"]').textContent();
  // another client changes the background: the menu follows the server
  await page.evaluate(() => fetch("/background", { method: "POST", headers: { "Content-Type": "application/json" },
                                                   body: JSON.stringify({ mode: "blur" }) }));
  await page.waitForFunction(() => document.getElementById("background").value === "blur", null, { timeout: 5000 });
  result.menu = await page.locator("#background").inputValue();
  if (evilUrl) {  // a hostile page on another origin
    const evil = await browser.newPage();
    await evil.goto(evilUrl);
    result.evil = await evil.evaluate(async (target) => {
      const tries = [
        ["edit", { mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: '{"channel": "AU12", "gain": 3}' }],
        ["edit", { mode: "cors", headers: { "Content-Type": "application/json" }, body: '{"channel": "AU12", "gain": 3}' }],
        ["background", { mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: '{"mode": "source"}' }],
        ["reset", { mode: "no-cors" }],
        ["source", { mode: "no-cors", body: new Blob([new Uint8Array(64)], { type: "image/png" }) }],
      ];
      const out = [];
      for (const [path, opts] of tries) {
        try { const r = await fetch(target + path, { method: "POST", ...opts }); out.push(r.type + ":" + r.status); }
        catch (e) { out.push("blocked"); }
      }
      return out;
    }, url);
  }
} catch (e) {
  result.error = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
