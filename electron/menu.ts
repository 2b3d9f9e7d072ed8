/**
 * The application menu. File: Open schedule..., Save schedule..., Export to
 * PyTorch...; Edit (the standard roles, so copy and paste work on macOS);
 * View: reload and developer tools in development only; Help: about, docs.
 */
import type { MenuItemConstructorOptions } from "electron";

export interface MenuActions {
  openSchedule(): void;
  saveSchedule(): void;
  exportPyTorch(): void;
  about(): void;
  docs(): void;
}

export function buildMenuTemplate(options: {
  isDev: boolean;
  isMac: boolean;
  appName: string;
  actions: MenuActions;
}): MenuItemConstructorOptions[] {
  const { actions, isDev, isMac } = options;
  const file: MenuItemConstructorOptions = {
    label: "&File",
    submenu: [
      {
        id: "open-schedule",
        label: "&Open Schedule...",
        accelerator: "CmdOrCtrl+O",
        click: () => actions.openSchedule(),
      },
      {
        id: "save-schedule",
        label: "&Save Schedule...",
        accelerator: "CmdOrCtrl+S",
        click: () => actions.saveSchedule(),
      },
      { type: "separator" },
      {
        id: "export-pytorch",
        label: "&Export to PyTorch...",
        accelerator: "CmdOrCtrl+E",
        click: () => actions.exportPyTorch(),
      },
      { type: "separator" },
      isMac ? { role: "close" } : { role: "quit" },
    ],
  };
  const edit: MenuItemConstructorOptions = {
    label: "&Edit",
    submenu: [
      { role: "undo" },
      { role: "redo" },
      { type: "separator" },
      { role: "cut" },
      { role: "copy" },
      { role: "paste" },
      { role: "selectAll" },
    ],
  };
  const view: MenuItemConstructorOptions = {
    label: "&View",
    submenu: [
      ...(isDev
        ? ([
            { id: "reload", role: "reload" },
            { id: "toggle-devtools", role: "toggleDevTools" },
            { type: "separator" },
          ] satisfies MenuItemConstructorOptions[])
        : []),
      { role: "resetZoom" },
      { role: "zoomIn" },
      { role: "zoomOut" },
      { type: "separator" },
      { role: "togglefullscreen" },
    ],
  };
  const help: MenuItemConstructorOptions = {
    role: "help",
    label: "&Help",
    submenu: [
      { id: "docs", label: "Documentation", click: () => actions.docs() },
      ...(isMac
        ? []
        : ([
            { type: "separator" },
            { id: "about", label: `About ${options.appName}`, click: () => actions.about() },
          ] satisfies MenuItemConstructorOptions[])),
    ],
  };
  const template: MenuItemConstructorOptions[] = [file, edit, view, help];
  if (isMac) {
    template.unshift({
      label: options.appName,
      submenu: [
        { id: "about", label: `About ${options.appName}`, click: () => actions.about() },
        { type: "separator" },
        { role: "services" },
        { type: "separator" },
        { role: "hide" },
        { role: "hideOthers" },
        { role: "unhide" },
        { type: "separator" },
        { role: "quit" },
      ],
    });
    template.splice(4, 0, { role: "windowMenu" });
  }
  return template;
}

/** Every item of a template, depth first (for tests and lookups by id). */
export function menuItems(
  template: readonly MenuItemConstructorOptions[],
): MenuItemConstructorOptions[] {
  const out: MenuItemConstructorOptions[] = [];
  for (const item of template) {
    out.push(item);
    if (Array.isArray(item.submenu)) out.push(...menuItems(item.submenu));
  }
  return out;
}
