import type { MenuItemConstructorOptions } from "electron";
import { describe, expect, it, vi } from "vitest";
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
