import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { APP_SCHEME_PRIVILEGES, appProtocolHandler, resolveAppPath } from "./protocol.js";
import { CONTENT_SECURITY_POLICY } from "./security.js";

function renderer() {
  const base = mkdtempSync(join(tmpdir(), "app-proto-"));
  const root = join(base, "renderer");
  mkdirSync(join(root, "assets"), { recursive: true });
  writeFileSync(join(root, "index.html"), "<!doctype html><title>x</title>");
  writeFileSync(join(root, "assets", "main.js"), "console.log(1)");
  writeFileSync(join(base, "secret.txt"), "secret");
  return { base, root };
}

const get = (url: string, method = "GET") => new Request(url, { method });

describe("app:// paths", () => {
  it("map into the renderer folder and nowhere else", () => {
    const root = "/srv/renderer";
    expect(resolveAppPath(root, "app://sgd-studio/")).toBe("/srv/renderer/index.html");
    expect(resolveAppPath(root, "app://sgd-studio/assets/a%20b.js?x=1#y")).toBe(
      "/srv/renderer/assets/a b.js",
    );
    for (const url of [
      "app://sgd-studio/..%2fsecret.txt",
      "app://sgd-studio/%2e%2e%2fsecret.txt",
      "app://sgd-studio/assets/%2E%2E%2F%2E%2E%2Fsecret.txt",
      "app://sgd-studio/%2e%2e%5csecret.txt",
      "app://sgd-studio/%00index.html",
      "app://sgd-studio/%E0%A4%A",
      "app://other/index.html",
      "app://sgd-studio:99/index.html",
      "file:///srv/renderer/index.html",
      "nonsense",
    ]) {
      expect(resolveAppPath(root, url), url).toBeNull();
    }
    // The URL parser already folds dot segments (also percent-encoded ones), so these stay inside.
    expect(resolveAppPath(root, "app://sgd-studio/../../etc/passwd")).toBe(
      "/srv/renderer/etc/passwd",
    );
    expect(resolveAppPath(root, "app://sgd-studio/assets/%2e%2e/%2E%2E/secret.txt")).toBe(
      "/srv/renderer/secret.txt",
    );
  });

  it("the scheme is standard and secure", () => {
    expect(APP_SCHEME_PRIVILEGES).toMatchObject({
      scheme: "app",
      privileges: { standard: true, secure: true },
    });
  });
});

describe("the protocol handler", () => {
  it("serves files with their type, the CSP and nosniff", async () => {
    const { root } = renderer();
    const handle = appProtocolHandler({ root, csp: CONTENT_SECURITY_POLICY });
    const page = await handle(get("app://sgd-studio/index.html"));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await page.text()).toContain("<title>x</title>");
    const js = await handle(get("app://sgd-studio/assets/main.js"));
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(await js.text()).toBe("console.log(1)");
    const head = await handle(get("app://sgd-studio/assets/main.js", "HEAD"));
    expect(head.status).toBe(200);
  });

  it("refuses traversal, symbolic links out of the folder, other methods and missing files", async () => {
    const { base, root } = renderer();
    symlinkSync(join(base, "secret.txt"), join(root, "assets", "link.txt"));
    const handle = appProtocolHandler({ root, csp: CONTENT_SECURITY_POLICY });
    const status = async (url: string, method = "GET") => (await handle(get(url, method))).status;
    expect(await status("app://sgd-studio/..%2fsecret.txt")).toBe(400);
    expect(await status("app://sgd-studio/assets/link.txt")).toBe(403);
    expect(await status("app://sgd-studio/assets/missing.js")).toBe(404);
    expect(await status("app://sgd-studio/assets")).toBe(404);
    expect(await status("app://sgd-studio/index.html", "POST")).toBe(405);
    const body = await (await handle(get("app://sgd-studio/%2e%2e%2fsecret.txt"))).text();
    expect(body).not.toContain("secret");
  });

  it("says what to do when the renderer has not been built", async () => {
    const handle = appProtocolHandler({
      root: join(tmpdir(), "no-such-renderer"),
      csp: CONTENT_SECURITY_POLICY,
    });
    const page = await handle(get("app://sgd-studio/"));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("npm run build");
    expect(page.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
  });
});
