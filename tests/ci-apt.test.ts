/**
 * .ci/apt-backports.sh finds the Debian mirror in either apt sources layout
 * (one-line /etc/apt/sources.list, deb822 *.sources files, or both) and adds
 * bookworm-backports on it; a machine with only deb822 files (no
 * sources.list) must work, which the first version of .ci/run did not.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const script = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  ".ci",
  "apt-backports.sh",
);

function layout(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "apt-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return root;
}

function run(root: string): { out: string; added: string | null } {
  const out = execFileSync("bash", [script], {
    env: { ...process.env, APT_ROOT: root },
    encoding: "utf8",
  });
  const file = path.join(root, "sources.list.d", "bookworm-backports.sources");
  return { out, added: existsSync(file) ? readFileSync(file, "utf8") : null };
}

const DEB822 = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
`;

describe(".ci/apt-backports.sh", () => {
  it("deb822 files only, no sources.list: uses their mirror (not the commented snapshot, not -security)", () => {
    const root = layout({ "sources.list.d/debian.sources": DEB822 });
    const { added } = run(root);
    expect(added).toContain("URIs: http://mirror.example/debian\n");
    expect(added).toContain("Suites: bookworm-backports");
  });

  it("one-line sources.list only", () => {
    const root = layout({
      "sources.list":
        "deb http://other.example/debian/ bookworm main\ndeb http://other.example/debian-security bookworm-security main\n",
    });
    expect(run(root).added).toContain("URIs: http://other.example/debian\n");
  });

  it("no sources at all: the default Debian mirror", () => {
    const root = layout({});
    mkdirSync(path.join(root, "sources.list.d"), { recursive: true });
    expect(run(root).added).toContain("URIs: http://deb.debian.org/debian\n");
  });

  it("backports already configured (either layout): adds nothing", () => {
    for (const files of [
      { "sources.list": "deb http://a.example/debian bookworm-backports main\n" },
      {
        "sources.list.d/bp.sources":
          "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm-backports\n",
      },
    ]) {
      const root = layout(files);
      const { out, added } = run(root);
      expect(out).toContain("already configured");
      expect(added).toBeNull();
    }
  });
});
