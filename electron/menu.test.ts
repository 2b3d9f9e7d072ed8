import { readFileSync } from "node:fs";
import type { MenuItemConstructorOptions } from "electron";
import { describe, expect, it, vi } from "vitest";
import type { AppEvent } from "../core/api/contract.js";
import { menuCommandOf } from "../renderer/src/lib/menu.js";
import { buildMenuTemplate, menuItems } from "./menu.js";

function template(isDev: boolean, isMac = false) {
  const actions = {
    openSchedule: vi.fn(),
    saveSchedule: vi.fn(),
    exportPyTorch: vi.fn(),
    about: vi.fn(),
    docs: vi.fn(),
  };
  const items = menuItems(buildMenuTemplate({ isDev, isMac, appName: "SGD Studio", actions }));
  const byId = (id: string) => items.find((i) => i.id === id);
  const click = (id: string) =>
    (byId(id)?.click as (() => void) | undefined)?.call(undefined as never);
  return { items, byId, click, actions };
}

describe("the application menu", () => {
  it("File: open, save, export; Help: docs, about", () => {
    const { byId, click, actions } = template(false);
    expect(byId("open-schedule")?.label).toBe("&Open Schedule...");
    expect(byId("save-schedule")?.label).toBe("&Save Schedule...");
    expect(byId("export-pytorch")?.label).toBe("&Export to PyTorch...");
    click("open-schedule");
    click("save-schedule");
    click("export-pytorch");
    click("docs");
    click("about");
    for (const fn of Object.values(actions)) expect(fn).toHaveBeenCalledTimes(1);
  });

  it("every File item reaches a listener: the event it sends (electron/app.ts) is a Designer command", () => {
    // What app.ts sends for each File item (app.test.ts checks that it does).
    const sends: Record<string, AppEvent> = {
      "open-schedule": { type: "app.schedule-opened", name: "a.json", content: "{}" },
      "save-schedule": { type: "app.menu", command: "schedule.save" },
      "export-pytorch": { type: "app.menu", command: "schedule.export-pytorch" },
    };
    const file = buildMenuTemplate({
      isDev: false,
      isMac: false,
      appName: "SGD Studio",
      actions: template(false).actions,
    })[0]?.submenu as MenuItemConstructorOptions[];
    expect(file.filter((i) => i.id).map((i) => i.id)).toEqual(Object.keys(sends));
    const commands = Object.values(sends).map((e) => menuCommandOf(e)?.type);
    expect(commands).toEqual(["open", "save", "export-pytorch"]);
    expect(menuCommandOf({ type: "app.error", message: "x" })?.type).toBe("error");
    // The shell hands them to the Designer, which carries them out.
    const app = readFileSync(new URL("../renderer/src/App.svelte", import.meta.url), "utf8");
    expect(app).toMatch(/menuCommandOf\(e\)/);
    expect(app).toMatch(/menuInbox\.deliver\(command\)/);
    const designer = readFileSync(
      new URL("../renderer/src/views/DesignerView.svelte", import.meta.url),
      "utf8",
    );
    expect(designer).toMatch(/menuInbox\.listen\(/);
    for (const type of ["open", "save", "export-pytorch"])
      expect(designer).toContain(`command.type === "${type}"`);
  });

  it("reload and devtools only in development", () => {
    const roles = (items: MenuItemConstructorOptions[]) => items.map((i) => i.role);
    expect(roles(template(true).items)).toEqual(
      expect.arrayContaining(["reload", "toggleDevTools"]),
    );
    expect(roles(template(false).items)).not.toContain("reload");
    expect(roles(template(false).items)).not.toContain("toggleDevTools");
    expect(roles(template(false).items)).not.toContain("forceReload");
  });

  it("on macOS the app menu carries about and quit", () => {
    const { items, byId } = template(false, true);
    expect(byId("about")).toBeDefined();
    expect(items.filter((i) => i.role === "quit")).toHaveLength(1);
    expect(items.some((i) => i.role === "windowMenu")).toBe(true);
  });
});
